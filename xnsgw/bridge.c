/* bridge.c: the gateway itself: what xnsd asks of the cluster, messages to
 * proxies carried to their hosts, calls from other hosts carried into the
 * servers here, and what happens when a host falls silent. */
#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <search.h>
#include <sys/random.h>

#include "bridge.h"
#include "clock.h"
#include "cluster.h"
#include "list.h"
#include "local.h"
#include "macro.h"
#include "registry.h"
#include "view.h"

/* A host we hear, and the tag of its SIDs. */
struct known_host {
        struct list link;
        char name[FRAME_HOST_MAX + 1];
        uint32_t tag;
        bool alive;
        uint64_t down_since;            /* ms, while not alive */
};

/* A local caller's message, carried to the server's host, until its answer
 * (or, for kinds without one, word that it is queued there) comes back. */
struct out_call {
        struct list link;
        uint64_t call;
        char host[FRAME_HOST_MAX + 1];
        struct local_msg *m;
};

/* Something xnsd asked (a lookup or connect), waiting for another host's
 * Granted, or for a name to be registered anywhere. */
struct ask {
        struct list link;
        struct bridge *b;
        uint64_t call;                  /* Grant sent: its number; ASK_LOOKING; else 0 */
        char host[FRAME_HOST_MAX + 1];  /* ... and to whom */
        struct xns_gateway_event e;
        struct xns_sid sid;             /* what we asked the host for */
        bool changed;                   /* the name changed while we looked it up */
        bool retry;                     /* look up again at the bridge's ev_retry */
        unsigned retries;
};

/* A lookup of the ask's name is on its way: the registry's answer ends it
 * (lookup_done); nothing else may take the ask meanwhile. */
#define ASK_LOOKING UINT64_MAX

/*
 * A name shows in the registry as soon as its host's gateway claimed it,
 * a moment before that host's xnsd hears the claim went through: a grant
 * asked in that moment hears SERVER_NOT_FOUND. A blocking lookup then
 * looks again ASK_RETRY_MS later, up to ASK_RETRIES times in a row, before
 * it waits for the name to change.
 */
#define ASK_RETRY_MS 20
#define ASK_RETRIES 50

/* Calls of kinds without an answer from one host's gateway (epoch), now
 * queued here: acknowledged together at the end of the loop pass. */
struct queued_acks {
        struct list link;
        char host[FRAME_HOST_MAX + 1];
        uint64_t epoch;
        uint32_t n;
        uint64_t calls[FRAME_QUEUED_MAX];
};

/* A call (or grant) from another host, in a server here. */
struct in_call {
        struct list link;               /* in bridge->in_calls: a probe asks for it */
        struct bridge *b;
        char from[FRAME_HOST_MAX + 1];
        uint64_t epoch, call;
        uint32_t kind;
        struct xns_sid sid;
};

/* A process here that called a server of another host: that host keeps a
 * session for it until told it is gone. */
struct caller {
        uint32_t pid;
        char host[FRAME_HOST_MAX + 1];
};

/* An answer sent lately, kept to send again when a Probe shows it lost
 * with a NATS node (the caller's gateway takes a call's answer once). */
struct sent_answer {
        struct list link;
        char to[FRAME_HOST_MAX + 1];
        struct frame_answer answer;     /* data: a copy, owned */
        uint64_t sent_ms;
};

#define HOST_DEAD_MS (3 * CLUSTER_DEAD_MS)      /* silent this long: its names may be taken over */
#define SENT_ANSWERS_MAX 256
#define SENT_ANSWERS_MS 10000
#define SENT_ANSWER_DATA_MAX (1u << 20) /* bigger ones are not kept: their callers hear SERVER_NOT_FOUND */

/* A proxy made here for a server of another host. */
struct proxy {
        struct list link;
        struct xns_sid sid;
};

struct bridge {
        struct event_base *base;
        char host[FRAME_HOST_MAX + 1];
        uint64_t epoch;
        uint32_t tag;
        struct local *local;
        struct cluster *cluster;
        struct registry *registry;
        uint64_t next_call;
        struct list hosts;              /* struct known_host */
        struct list out_calls;          /* struct out_call */
        struct list asks;               /* struct ask */
        struct list proxies;            /* struct proxy */
        struct list in_calls;           /* struct in_call */
        struct list sent_answers;       /* struct sent_answer, oldest first */
        size_t n_sent_answers;
        bool nats_lost;                 /* the NATS connection went: probe once it is back */
        uint64_t heard_since;           /* ms: NATS up since (0: down), so silent hosts are dead ones */
        void *callers;                  /* tsearch tree of struct caller */
        struct event *ev_view;          /* tells xnsd the cluster view, once per loop pass */
        struct list acks;               /* struct queued_acks, one per host and epoch */
        struct event *ev_acks;          /* sends them, at the end of the pass */
        struct event *ev_retry;         /* blocking lookups to look again (ASK_RETRY_MS) */
        bool failed;
};

/* --- hosts ---------------------------------------------------------------- */

static struct known_host *host_find(struct bridge *b, const char *name) {
        struct known_host *h;

        list_for_each_entry(h, &b->hosts, link)
                if (strcmp(h->name, name) == 0)
                        return h;
        return NULL;
}

static struct known_host *host_by_tag(struct bridge *b, uint32_t tag) {
        struct known_host *h;

        list_for_each_entry(h, &b->hosts, link)
                if (h->alive && h->tag == tag)
                        return h;
        return NULL;
}

static int send_frame(struct bridge *b, const char *host, const struct frame *f) {
        int r = cluster_send(b->cluster, host, f);

        if (r < 0)
                fprintf(stderr, "xnsgw: sending a %s to host %s: %s\n", frame_type_name(f->type), host,
                        strerror(-r));
        return r;
}

/* --- callers: which hosts hold a session for which local process ----------- */

static int caller_compare(const void *a, const void *b) {
        const struct caller *x = a, *y = b;

        if (x->pid != y->pid)
                return x->pid < y->pid ? -1 : 1;
        return strcmp(x->host, y->host);
}

static void caller_note(struct bridge *b, uint32_t pid, const char *host) {
        struct caller key = { .pid = pid }, *c;
        void *slot;

        STR_COPY(key.host, host);
        if (tfind(&key, &b->callers, caller_compare))
                return;
        c = malloc(sizeof(*c));
        if (!c)
                return;
        *c = key;
        slot = tsearch(c, &b->callers, caller_compare);
        if (!slot || *(struct caller **)slot != c)
                free(c);
}

/* A local process is gone: each host that stood in for it hears so. */
static void caller_gone(struct bridge *b, uint32_t pid) {
        struct known_host *h;

        list_for_each_entry(h, &b->hosts, link) {
                struct caller key = { .pid = pid }, *c;
                void *slot;

                STR_COPY(key.host, h->name);
                slot = tfind(&key, &b->callers, caller_compare);
                if (!slot)
                        continue;
                c = *(struct caller **)slot;
                tdelete(c, &b->callers, caller_compare);
                free(c);
                if (h->alive)
                        send_frame(b, h->name, &(struct frame){ .type = FRAME_GONE, .gone = { .pid = pid } });
        }
}

/* --- xnsd's questions: claims, releases, lookups, connects ----------------- */

/*
 * A host that holds names but is dead as far as we can tell: we have heard
 * the cluster for HOST_DEAD_MS and not it (or not since it fell silent that
 * long ago). A frozen host looks the same; once it thaws, its names there
 * stay its own locally, and the cluster's go to the new holders.
 */
static bool host_dead(struct bridge *b, const char *name) {
        struct known_host *h = host_find(b, name);
        uint64_t now = now_ms();

        if (b->heard_since == 0 || now - b->heard_since < HOST_DEAD_MS)
                return false;
        return !h || (!h->alive && now - h->down_since >= HOST_DEAD_MS);
}

static void claim_done(void *userdata, int result, const struct registry_entry *holder);

static int claim_send(struct bridge *b, struct ask *a) {
        struct registry_entry entry = { .sid = a->e.sid, .max_conns = a->e.max_conns, .epoch = b->epoch };

        STR_COPY(entry.name, a->e.name.str);
        STR_COPY(entry.host, b->host);
        if (a->host[0])
                return registry_claim_from(b->registry, &entry, a->host, claim_done, a);
        return registry_claim(b->registry, &entry, claim_done, a);
}

/* A claim's answer; a name a dead host holds is claimed once more, over it. */
static void claim_done(void *userdata, int result, const struct registry_entry *holder) {
        struct ask *a = userdata;

        if (result == -EEXIST && holder && !a->host[0] && host_dead(a->b, holder->host)) {
                fprintf(stderr, "xnsgw: '%s' is dead host %s's: taking it over\n", a->e.name.str, holder->host);
                STR_COPY(a->host, holder->host);
                if (claim_send(a->b, a) == 0)
                        return;
                result = -ENOMEM;
        } else if (result == -EEXIST && holder) {
                fprintf(stderr, "xnsgw: '%s' is host %s's already\n", a->e.name.str, holder->host);
        }
        local_answer(a->b->local, a->e.ticket, xns_error_from_errno(result), &a->e.sid);
        free(a);
}

static struct ask *ask_new(struct bridge *b, const struct xns_gateway_event *e) {
        struct ask *a = calloc(1, sizeof(*a));

        if (!a)
                return NULL;
        a->b = b;
        a->e = *e;
        list_init(&a->link);
        return a;
}

static void bridge_claim(struct bridge *b, const struct xns_gateway_event *e) {
        struct ask *a = ask_new(b, e);

        if (!a || claim_send(b, a) < 0) {
                free(a);
                local_answer(b->local, e->ticket, XNS_ERR_OUT_OF_MEMORY, &e->sid);
        }
}

/* Ends an ask: xnsd hears error, or the proxy's SID. */
static void ask_end(struct ask *a, uint32_t error) {
        list_unlink(&a->link);
        local_answer(a->b->local, a->e.ticket, error, error == XNS_OK ? &a->sid : NULL);
        free(a);
}

/* Asks host for a connection (to a name, counted against its limit there,
 * or to a SID) on behalf of the process xnsd named. */
static void ask_grant(struct ask *a, const char *host, const struct xns_sid *sid) {
        struct bridge *b = a->b;
        struct frame f = { .type = FRAME_GRANT };

        a->call = ++b->next_call;
        a->sid = *sid;
        STR_COPY(a->host, host);
        f.grant = (struct frame_grant){ .call = a->call, .sid = *sid, .pid = a->e.pid, .uid = a->e.uid };
        if (a->e.what == XNS_GATEWAY_LOOKUP)
                f.grant.name = a->e.name;
        list_unlink(&a->link);
        list_link_tail(&b->asks, &a->link);
        caller_note(b, a->e.pid, host);         /* it has a session there now */
        if (send_frame(b, host, &f) < 0)
                ask_end(a, XNS_ERR_SERVER_NOT_FOUND);
}

/* A lookup that found nothing: a blocking one waits for the name. */
static void ask_not_found(struct ask *a) {
        if (a->e.wait) {
                a->call = 0;
                list_unlink(&a->link);
                list_link_tail(&a->b->asks, &a->link);
                return;
        }
        ask_end(a, XNS_ERR_SERVER_NOT_FOUND);
}

/* What the registry says of a looked-up name. */
static void ask_found(struct ask *a, const struct registry_entry *e) {
        struct known_host *h = host_find(a->b, e->host);

        if (strcmp(e->host, a->b->host) == 0 || !h || !h->alive)
                return ask_not_found(a);        /* ours (not here any more), or its host is silent */
        ask_grant(a, e->host, &e->sid);
}

static void ask_look_up(struct ask *a);

/* A lookup's answer. A registration seen while it was on its way may be
 * newer than what the registry answered: a waiting ask looks once more. */
static void lookup_done(void *userdata, int result, const struct registry_entry *e) {
        struct ask *a = userdata;
        bool changed = a->changed;

        a->call = 0;
        a->changed = false;
        if (result == 0 && e)
                return ask_found(a, e);
        if (result == -ENOENT && changed && a->e.wait)
                return ask_look_up(a);
        if (result == -ENOENT)
                return ask_not_found(a);
        ask_end(a, XNS_ERR_SERVER_NOT_FOUND);
}

static void ask_look_up(struct ask *a) {
        a->call = ASK_LOOKING;
        if (registry_lookup(a->b->registry, a->e.name.str, lookup_done, a) < 0)
                ask_end(a, XNS_ERR_OUT_OF_MEMORY);
}

static void bridge_lookup(struct bridge *b, const struct xns_gateway_event *e) {
        struct ask *a = ask_new(b, e);

        if (!a)
                return local_answer(b->local, e->ticket, XNS_ERR_OUT_OF_MEMORY, NULL);
        list_link_tail(&b->asks, &a->link);
        if (!cluster_connected(b->cluster))     /* no cluster: not found, at once */
                return ask_not_found(a);
        ask_look_up(a);
}

static void bridge_connect(struct bridge *b, const struct xns_gateway_event *e) {
        struct known_host *h = host_by_tag(b, e->sid.w[0]);
        struct ask *a;

        if (!h && !e->wait)
                return local_answer(b->local, e->ticket, XNS_ERR_SERVER_NOT_FOUND, NULL);
        a = ask_new(b, e);
        if (!a)
                return local_answer(b->local, e->ticket, XNS_ERR_OUT_OF_MEMORY, NULL);
        list_link_tail(&b->asks, &a->link);
        if (h)
                ask_grant(a, h->name, &e->sid);
}

/* A name this host let go while it had no gateway is free again. */
static void stale_dropped(void *userdata, int result, const struct registry_entry *e) {
        if (result == 0 && e)
                fprintf(stderr, "xnsgw: '%s' was left claimed by this host's previous gateway: released\n", e->name);
}

static void on_local_event(void *userdata, const struct xns_gateway_event *e) {
        struct bridge *b = userdata;

        switch (e->what) {
        case XNS_GATEWAY_CLAIM:
                return bridge_claim(b, e);
        case XNS_GATEWAY_RELEASE:
                registry_release(b->registry, e->name.str, NULL, NULL);
                return;
        case XNS_GATEWAY_LOOKUP:
                return bridge_lookup(b, e);
        case XNS_GATEWAY_CONNECT:
                return bridge_connect(b, e);
        case XNS_GATEWAY_GONE:
                return caller_gone(b, e->pid);
        case XNS_GATEWAY_EXPORTED:
                registry_drop_stale(b->registry, b->epoch, stale_dropped, b);
                return;
        default:
                return;
        }
}

/* --- what xnsctl shows of the cluster -------------------------------------- */

struct view_build {
        struct view_name *names;
        size_t n, cap;
};

static void view_add_name(void *userdata, const struct registry_entry *e) {
        struct view_build *vb = userdata;

        if (vb->n == vb->cap) {
                size_t cap = vb->cap ? vb->cap * 2 : 16;
                struct view_name *n = realloc(vb->names, cap * sizeof(*n));

                if (!n)
                        return;
                vb->names = n;
                vb->cap = cap;
        }
        vb->names[vb->n++] = (struct view_name){ .name = e->name, .host = e->host, .sid = e->sid,
                                                 .max_conns = e->max_conns };
}

static void view_send(evutil_socket_t fd, short what, void *userdata) {
        struct bridge *b = userdata;
        struct view_build vb = { 0 };
        struct view_host *hosts;
        struct known_host *h;
        struct view v = { .nats_url = cluster_connected(b->cluster) ? cluster_server_url(b->cluster) : "" };
        size_t n_hosts = 0, len;
        uint8_t *buf;

        list_for_each_entry(h, &b->hosts, link)
                n_hosts++;
        hosts = calloc(n_hosts + 1, sizeof(*hosts));
        if (!hosts)
                return;
        list_for_each_entry(h, &b->hosts, link)
                if (h->alive)
                        hosts[v.n_hosts++] = (struct view_host){ .name = h->name, .tag = h->tag };
        v.hosts = hosts;
        registry_each(b->registry, view_add_name, &vb);
        v.names = vb.names;
        v.n_names = vb.n;
        if (view_pack(&v, &buf, &len) == 0) {
                local_view(b->local, buf, len);
                free(buf);
        }
        free(vb.names);
        free(hosts);
}

/* Something xnsctl shows changed: xnsd hears the new view soon. */
static void view_changed(struct bridge *b) {
        if (b->ev_view)
                event_active(b->ev_view, 0, 0);
}

/* --- proxies ---------------------------------------------------------------- */

static void proxy_ready(void *userdata, uint32_t error, const struct xns_sid *sid) {
        struct ask *a = userdata;
        struct proxy *p;

        if (error == XNS_OK) {
                p = calloc(1, sizeof(*p));
                if (p) {
                        p->sid = a->sid;
                        list_link_tail(&a->b->proxies, &p->link);
                }
        }
        ask_end(a, error);
}

static void proxies_remove_tag(struct bridge *b, uint32_t tag) {
        struct proxy *p, *tmp;

        list_for_each_entry_safe(p, tmp, &b->proxies, link) {
                if (p->sid.w[0] != tag)
                        continue;
                local_proxy_remove(b->local, &p->sid);
                list_unlink(&p->link);
                free(p);
        }
}

static void proxy_gone(struct bridge *b, const struct xns_sid *sid) {
        struct proxy *p, *tmp;

        list_for_each_entry_safe(p, tmp, &b->proxies, link) {
                if (!xns_sid_equal(&p->sid, sid))
                        continue;
                local_proxy_remove(b->local, &p->sid);
                list_unlink(&p->link);
                free(p);
        }
}

/* Another host granted (or refused) what an ask wanted: the proxy comes
 * first, then xnsd hears its SID. */
static void ask_retry_soon(struct ask *a) {
        struct timeval tv = { 0, ASK_RETRY_MS * 1000 };

        a->call = 0;
        a->retry = true;
        a->retries++;
        event_add(a->b->ev_retry, &tv);
}

static void asks_retry_due(evutil_socket_t fd, short what, void *arg) {
        struct bridge *b = arg;
        struct ask *a, *tmp;

        list_for_each_entry_safe(a, tmp, &b->asks, link) {
                if (!a->retry)
                        continue;
                a->retry = false;
                if (a->call == 0)
                        ask_look_up(a);
        }
}

static void on_granted(struct bridge *b, const char *from, const struct frame_granted *g) {
        struct ask *a;

        list_for_each_entry(a, &b->asks, link) {
                if (a->call == 0 || a->call == ASK_LOOKING || a->call != g->call || strcmp(a->host, from) != 0)
                        continue;
                if (g->error == XNS_ERR_SERVER_NOT_FOUND && a->e.what == XNS_GATEWAY_LOOKUP && a->e.wait &&
                    a->retries < ASK_RETRIES)
                        return ask_retry_soon(a);
                if (g->error == XNS_ERR_SERVER_NOT_FOUND)
                        return ask_not_found(a);        /* a blocking one waits on */
                if (g->error != XNS_OK)
                        return ask_end(a, g->error);
                a->call = 0;
                a->retry = false;
                a->e.wait = false;      /* found: only the proxy is left to make */
                if (local_proxy_exists(b->local, &a->sid))
                        return ask_end(a, XNS_OK);
                if (local_proxy_add(b->local, &a->sid, proxy_ready, a) < 0)
                        ask_end(a, XNS_ERR_OUT_OF_MEMORY);
                return;
        }
}

/* A name was registered somewhere: blocking lookups of it try again. */
static void on_registry_changed(void *userdata, const char *name, const struct registry_entry *e) {
        struct bridge *b = userdata;
        struct ask *a, *tmp;

        view_changed(b);
        if (!e)
                return;
        list_for_each_entry_safe(a, tmp, &b->asks, link) {
                if (a->e.what != XNS_GATEWAY_LOOKUP || !a->e.wait || strcmp(a->e.name.str, name) != 0 ||
                    strcmp(e->host, b->host) == 0)
                        continue;
                if (a->call == ASK_LOOKING)
                        a->changed = true;
                else if (a->call == 0)
                        ask_found(a, e);
        }
}

/* --- messages of local callers to proxies ----------------------------------- */

static void on_local_message(void *userdata, struct local_msg *m) {
        struct bridge *b = userdata;
        struct known_host *h = host_by_tag(b, m->sid.w[0]);
        struct frame f = { .type = FRAME_CALL };
        struct out_call *c;

        if (!h) {
                if (m->blocking)
                        return local_msg_fail(b->local, m, XNS_ERR_SERVER_NOT_FOUND);
                return local_msg_done(b->local, m);
        }
        f.call = (struct frame_call){
                .epoch = b->epoch, .call = ++b->next_call, .sid = m->sid, .pid = m->sender_pid,
                .uid = m->sender_uid, .kind = m->kind, .id = m->id,
                .a = { m->a[0], m->a[1], m->a[2], m->a[3] },
                .len = m->len, .offset = m->offset, .valid = m->valid,
                .data = m->data, .data_len = m->data ? m->len : 0,
        };
        caller_note(b, m->sender_pid, h->name);
        c = calloc(1, sizeof(*c));
        if (!c)
                return local_msg_fail(b->local, m, XNS_ERR_OUT_OF_MEMORY);
        if (send_frame(b, h->name, &f) < 0) {
                free(c);
                return local_msg_fail(b->local, m, XNS_ERR_SERVER_NOT_FOUND);
        }
        c->call = f.call.call;
        c->m = m;
        STR_COPY(c->host, h->name);
        list_link_tail(&b->out_calls, &c->link);
}

/* The call to host waiting for its answer, or NULL. Answers come mostly
 * in the order sent: the oldest first. */
static struct out_call *out_call_find(struct bridge *b, const char *host, uint64_t call) {
        struct out_call *c;

        list_for_each_entry(c, &b->out_calls, link)
                if (c->call == call && strcmp(c->host, host) == 0)
                        return c;
        return NULL;
}

/* Ends the wait of c; its message is the caller's to answer. */
static struct local_msg *out_call_end(struct out_call *c) {
        struct local_msg *m = c->m;

        list_unlink(&c->link);
        free(c);
        return m;
}

/* The far side's answer to a local caller's message, and the calls without
 * an answer it has queued: dropped unless for a call still waiting, of this
 * gateway's epoch, from its host. */
static void on_answer(struct bridge *b, const char *from, const struct frame_answer *ans) {
        struct out_call *c;
        struct local_msg *m;

        if (ans->epoch != b->epoch)
                return;
        for (uint32_t i = 0; i < ans->n_queued; i++) {     /* queued there: the proxy may take more */
                c = out_call_find(b, from, ans->queued[i]);
                if (c && !c->m->blocking)
                        local_msg_done(b->local, out_call_end(c));
        }
        if (ans->call == 0 || !(c = out_call_find(b, from, ans->call)))
                return;
        m = out_call_end(c);
        if (!m->blocking)
                local_msg_done(b->local, m);
        else if (ans->error != XNS_OK)
                local_msg_fail(b->local, m, ans->error);
        else if (m->kind == XNS_KIND_BLOCKING_SCALAR)
                local_msg_answer_scalar(b->local, m, ans->count, ans->v);
        else
                local_msg_answer_memory(b->local, m, ans->data, ans->data_len, ans->data_at, ans->offset,
                                        ans->valid);
}

/* Every call waiting on host fails: it fell silent, or its server went. */
static void out_calls_fail_host(struct bridge *b, const char *host) {
        struct out_call *c, *tmp;

        list_for_each_entry_safe(c, tmp, &b->out_calls, link) {
                if (strcmp(c->host, host) != 0)
                        continue;
                list_unlink(&c->link);
                local_msg_fail(b->local, c->m, XNS_ERR_SERVER_NOT_FOUND);
                free(c);
        }
}

/* --- calls of other hosts' processes into servers here ---------------------- */

static void sent_answer_free(struct bridge *b, struct sent_answer *sa) {
        list_unlink(&sa->link);
        free((void *)sa->answer.data);
        free(sa);
        b->n_sent_answers--;
}

/* Keeps a copy of an answer sent to host, for a while (and forgets old ones). */
static void sent_answer_keep(struct bridge *b, const char *to, const struct frame_answer *ans) {
        uint64_t now = now_ms();
        struct sent_answer *sa;

        while (!list_is_empty(&b->sent_answers)) {
                sa = list_first_entry(&b->sent_answers, struct sent_answer, link);
                if (b->n_sent_answers < SENT_ANSWERS_MAX && now - sa->sent_ms < SENT_ANSWERS_MS)
                        break;
                sent_answer_free(b, sa);
        }
        if (ans->data_len > SENT_ANSWER_DATA_MAX || !(sa = calloc(1, sizeof(*sa))))
                return;
        sa->answer = *ans;
        sa->answer.data = NULL;
        if (ans->data_len > 0) {
                uint8_t *copy = malloc(ans->data_len);

                if (!copy) {
                        free(sa);
                        return;
                }
                memcpy(copy, ans->data, ans->data_len);
                sa->answer.data = copy;
        }
        STR_COPY(sa->to, to);
        sa->sent_ms = now;
        list_link_tail(&b->sent_answers, &sa->link);
        b->n_sent_answers++;
}

/* A call from another host ended here: its caller's host hears the answer,
 * or for kinds without one that the message is queued (its proxy may take
 * more), or the error. */
static void acks_send_one(struct bridge *b, struct queued_acks *q) {
        struct frame f = { .type = FRAME_ANSWER };

        f.answer = (struct frame_answer){ .epoch = q->epoch, .n_queued = q->n };
        memcpy(f.answer.queued, q->calls, q->n * sizeof(q->calls[0]));
        send_frame(b, q->host, &f);
        q->n = 0;
}

static void acks_send(evutil_socket_t fd, short what, void *arg) {
        struct bridge *b = arg;
        struct queued_acks *q, *tmp;

        list_for_each_entry_safe(q, tmp, &b->acks, link) {
                if (q->n > 0)
                        acks_send_one(b, q);
                list_unlink(&q->link);
                free(q);
        }
}

/* Call of epoch from host is queued here: its caller's gateway hears so
 * with the others of this pass (or at once, without memory for that). */
static void ack_queued(struct bridge *b, const char *host, uint64_t epoch, uint64_t call) {
        struct queued_acks *q;

        list_for_each_entry(q, &b->acks, link)
                if (q->epoch == epoch && !strcmp(q->host, host))
                        goto found;
        q = calloc(1, sizeof(*q));
        if (!q) {
                struct frame f = { .type = FRAME_ANSWER, .answer = { .epoch = epoch, .call = call } };

                send_frame(b, host, &f);
                return;
        }
        STR_COPY(q->host, host);
        q->epoch = epoch;
        list_link_tail(&b->acks, &q->link);
        event_active(b->ev_acks, EV_TIMEOUT, 0);
found:
        q->calls[q->n++] = call;
        if (q->n == FRAME_QUEUED_MAX)
                acks_send_one(b, q);
}

static void in_call_done(void *userdata, const struct local_result *r) {
        struct in_call *ic = userdata;
        struct bridge *b = ic->b;
        struct frame f = { .type = FRAME_ANSWER };
        uint32_t error = r->error;

        /* our xnsd went under the call: to the caller, its server is gone */
        if (error == XNS_ERR_UNAVAILABLE)
                error = XNS_ERR_SERVER_NOT_FOUND;
        if (error == XNS_ERR_SERVER_NOT_FOUND) {        /* the caller's host drops its proxy */
                struct frame gone = { .type = FRAME_GONE, .gone = { .sid = ic->sid } };

                send_frame(b, ic->from, &gone);
        }
        if (error == XNS_OK && !xns_kind_blocks(ic->kind)) {
                ack_queued(b, ic->from, ic->epoch, ic->call);
                list_unlink(&ic->link);
                free(ic);
                return;
        }
        f.answer = (struct frame_answer){
                .epoch = ic->epoch, .call = ic->call, .error = error, .count = r->count,
                .offset = r->offset, .valid = r->valid,
                .data = r->data, .data_len = r->data ? r->data_len : 0, .data_at = r->data ? r->data_at : 0,
        };
        memcpy(f.answer.v, r->v, sizeof(f.answer.v));
        send_frame(b, ic->from, &f);
        if (xns_kind_blocks(ic->kind))
                sent_answer_keep(b, ic->from, &f.answer);
        list_unlink(&ic->link);
        free(ic);
}

static void on_call(struct bridge *b, const char *from, const struct frame_call *fc) {
        struct local_call c = {
                .sid = fc->sid, .kind = fc->kind, .id = fc->id,
                .a = { fc->a[0], fc->a[1], fc->a[2], fc->a[3] },
                .len = fc->len, .offset = fc->offset, .valid = fc->valid, .data = fc->data,
                .origin = { .pid = fc->pid, .uid = fc->uid },
        };
        struct in_call *ic = calloc(1, sizeof(*ic));
        struct local_result fail = { .error = XNS_ERR_OUT_OF_MEMORY };

        STR_COPY(c.origin.host, from);
        if (ic) {
                *ic = (struct in_call){ .b = b, .epoch = fc->epoch, .call = fc->call, .kind = fc->kind,
                                        .sid = fc->sid };
                STR_COPY(ic->from, from);
                list_link_tail(&b->in_calls, &ic->link);
        }
        if (fc->sid.w[0] != b->tag) {
                fail.error = XNS_ERR_SERVER_NOT_FOUND;
        } else if (ic && local_call(b->local, &c, in_call_done, ic) == 0) {
                return;
        }
        if (ic)
                in_call_done(ic, &fail);
}

static void grant_done(void *userdata, uint32_t error, const struct xns_sid *sid) {
        struct in_call *ic = userdata;
        struct frame f = { .type = FRAME_GRANTED, .granted = { .call = ic->call, .error = error } };

        if (sid)
                f.granted.sid = *sid;
        send_frame(ic->b, ic->from, &f);
        list_unlink(&ic->link);
        free(ic);
}

/* Another host's process asks for a connection to a server here. */
static void on_grant(struct bridge *b, const char *from, const struct frame_grant *g) {
        struct xns_origin o = { .pid = g->pid, .uid = g->uid };
        struct in_call *ic = calloc(1, sizeof(*ic));
        int r;

        if (!ic)
                return;
        *ic = (struct in_call){ .b = b, .call = g->call, .sid = g->sid };
        STR_COPY(ic->from, from);
        list_link_tail(&b->in_calls, &ic->link);
        STR_COPY(o.host, from);
        if (g->sid.w[0] != b->tag)
                return grant_done(ic, XNS_ERR_SERVER_NOT_FOUND, NULL);
        if (g->name.len > 0)
                r = local_grant_name(b->local, &o, g->name.str, &g->sid, grant_done, ic);
        else
                r = local_grant_sid(b->local, &o, &g->sid, grant_done, ic);
        if (r < 0)
                grant_done(ic, XNS_ERR_OUT_OF_MEMORY, NULL);
}

/* --- after a NATS node died under a gateway: what was lost? ---------------- */

/* Asks host whether each call we wait on there (and each grant) is still
 * there; resync: and to ask the same of its calls here. */
static void probe_host(struct bridge *b, const char *host, bool resync) {
        struct frame f = { .type = FRAME_PROBE, .probe = { .epoch = b->epoch, .resync = resync } };
        struct out_call *c;
        struct ask *a;

        if (resync)
                send_frame(b, host, &f);
        f.probe.resync = false;
        list_for_each_entry(c, &b->out_calls, link)
                if (strcmp(c->host, host) == 0) {
                        f.probe.call = c->call;
                        send_frame(b, host, &f);
                }
        list_for_each_entry(a, &b->asks, link)
                if (a->call != 0 && a->call != ASK_LOOKING && strcmp(a->host, host) == 0) {
                        f.probe.call = a->call;
                        send_frame(b, host, &f);
                }
}

static bool in_call_known(struct bridge *b, const char *from, uint64_t epoch, uint64_t call) {
        struct in_call *ic;

        list_for_each_entry(ic, &b->in_calls, link)
                if (ic->call == call && (ic->epoch == epoch || ic->epoch == 0) && strcmp(ic->from, from) == 0)
                        return true;
        return false;
}

/* An answer we sent lately, sent again: it may have died with a node. */
static bool sent_answer_resend(struct bridge *b, const char *to, uint64_t epoch, uint64_t call) {
        struct sent_answer *sa;

        list_for_each_entry(sa, &b->sent_answers, link)
                if (sa->answer.call == call && sa->answer.epoch == epoch && strcmp(sa->to, to) == 0) {
                        send_frame(b, to, &(struct frame){ .type = FRAME_ANSWER, .answer = sa->answer });
                        return true;
                }
        return false;
}

/* Still here (a deferred call waits on), or answered lately (the answer
 * goes again, before the Probed), or unknown: lost. */
static void on_probe(struct bridge *b, const char *from, const struct frame_probe *p) {
        struct frame f = { .type = FRAME_PROBED, .probed = { .epoch = p->epoch, .call = p->call } };

        if (p->call != 0) {
                f.probed.known = in_call_known(b, from, p->epoch, p->call) ||
                                 sent_answer_resend(b, from, p->epoch, p->call);
                send_frame(b, from, &f);
        }
        if (p->resync)
                probe_host(b, from, false);
}

/*
 * The far side no longer knows a call we wait on: the Call, or its Answer,
 * died with a NATS node (an Answer sent before this Probed would have come
 * first). The caller hears SERVER_NOT_FOUND, never the answer twice; a
 * grant ends as a lost one does.
 */
static void on_probed(struct bridge *b, const char *from, const struct frame_probed *p) {
        struct out_call *c;
        struct ask *a;

        if (p->known || p->epoch != b->epoch)
                return;
        list_for_each_entry(c, &b->out_calls, link)
                if (c->call == p->call && strcmp(c->host, from) == 0) {
                        list_unlink(&c->link);
                        local_msg_fail(b->local, c->m, XNS_ERR_SERVER_NOT_FOUND);
                        free(c);
                        return;
                }
        list_for_each_entry(a, &b->asks, link)
                if (a->call == p->call && strcmp(a->host, from) == 0)
                        return ask_not_found(a);
}

static void on_frame(void *userdata, const char *from, const struct frame *f) {
        struct bridge *b = userdata;

        switch (f->type) {
        case FRAME_CALL:
                return on_call(b, from, &f->call);
        case FRAME_ANSWER:
                return on_answer(b, from, &f->answer);
        case FRAME_GRANT:
                return on_grant(b, from, &f->grant);
        case FRAME_GRANTED:
                return on_granted(b, from, &f->granted);
        case FRAME_PROBE:
                return on_probe(b, from, &f->probe);
        case FRAME_PROBED:
                return on_probed(b, from, &f->probed);
        case FRAME_GONE:
                if (f->gone.pid != 0)
                        local_origin_gone(b->local, from, f->gone.pid);
                if (f->gone.sid.w[0] != 0)
                        proxy_gone(b, &f->gone.sid);
                return;
        default:
                return;
        }
}

/* Blocking lookups look again: a host that holds their name may be up. */
static void asks_retry(struct bridge *b) {
        struct ask *a, *tmp;

        list_for_each_entry_safe(a, tmp, &b->asks, link) {
                struct known_host *h;

                if (a->call != 0 || !a->e.wait)
                        continue;
                if (a->e.what == XNS_GATEWAY_CONNECT) {
                        if ((h = host_by_tag(b, a->e.sid.w[0])))
                                ask_grant(a, h->name, &a->e.sid);
                        continue;
                }
                a->call = ASK_LOOKING;  /* not twice at once */
                if (registry_lookup(b->registry, a->e.name.str, lookup_done, a) < 0)
                        a->call = 0;
        }
}

/* --- liveness ---------------------------------------------------------------- */

static void on_host_up(void *userdata, const char *name, uint32_t tag, uint64_t epoch) {
        struct bridge *b = userdata;
        struct known_host *h = host_find(b, name);

        if (!h) {
                h = calloc(1, sizeof(*h));
                if (!h)
                        return;
                STR_COPY(h->name, name);
                list_link_tail(&b->hosts, &h->link);
        }
        if (h->tag != 0 && h->tag != tag)       /* its xnsd started again: old SIDs are gone */
                proxies_remove_tag(b, h->tag);
        h->tag = tag;
        h->alive = true;
        fprintf(stderr, "xnsgw: host %s is up\n", name);
        asks_retry(b);
        view_changed(b);
}

/*
 * A host fell silent: every local caller waiting on it hears
 * SERVER_NOT_FOUND now, its proxies go, the sessions of its processes here
 * close, and what asked it for a connection hears SERVER_NOT_FOUND (a
 * blocking lookup waits on). A host whose gateway started again (a new
 * epoch, heard at once: it is alive) is asked instead which of our calls
 * it has, as after a reconnect: those sent to the new one go on, those the
 * old one took die with it.
 */
static void on_host_down(void *userdata, const char *name, uint64_t epoch) {
        struct bridge *b = userdata;
        struct known_host *h = host_find(b, name);
        bool restarted = cluster_host_alive(b->cluster, name);
        struct ask *a, *tmp;

        fprintf(stderr, "xnsgw: host %s is %s\n", name, restarted ? "back with a new gateway" : "down");
        local_host_gone(b->local, name);
        if (restarted)
                return probe_host(b, name, false);
        out_calls_fail_host(b, name);
        list_for_each_entry_safe(a, tmp, &b->asks, link)
                if (a->call != 0 && a->call != ASK_LOOKING && strcmp(a->host, name) == 0)
                        ask_not_found(a);
        if (h) {
                h->alive = false;
                h->down_since = now_ms();
                proxies_remove_tag(b, h->tag);
        }
        view_changed(b);
}

/* The NATS connection went, or came back: then every host is asked what of
 * ours it still has, and to ask the same of us. */
static void on_connection(void *userdata, bool up) {
        struct bridge *b = userdata;
        struct known_host *h;

        fprintf(stderr, "xnsgw: NATS connection %s\n", up ? "up" : "lost");
        view_changed(b);
        b->heard_since = up ? now_ms() : 0;
        if (!up) {
                b->nats_lost = true;
                return;
        }
        if (!b->nats_lost)
                return;
        b->nats_lost = false;
        list_for_each_entry(h, &b->hosts, link)
                if (h->alive)
                        probe_host(b, h->name, true);
}

static void on_local_gone(void *userdata) {
        struct bridge *b = userdata;

        fprintf(stderr, "xnsgw: xnsd closed the gateway's link\n");
        b->failed = true;
        event_base_loopbreak(b->base);
}

/* --- lifecycle ----------------------------------------------------------------- */

int bridge_new(struct bridge **out, struct event_base *base, const struct bridge_options *opt, char *why,
               size_t why_size) {
        const struct local_hooks local_hooks = {
                .event = on_local_event, .message = on_local_message, .gone = on_local_gone,
        };
        const struct cluster_hooks cluster_hooks = {
                .frame = on_frame, .host_up = on_host_up, .host_down = on_host_down,
                .connection = on_connection,
        };
        const struct registry_hooks registry_hooks = { .changed = on_registry_changed };
        struct bridge *b = calloc(1, sizeof(*b));
        struct local_hooks lh = local_hooks;
        struct cluster_hooks ch = cluster_hooks;
        struct registry_hooks rh = registry_hooks;
        struct cluster_options copt;
        int r;

        if (!b)
                return -ENOMEM;
        b->base = base;
        STR_COPY(b->host, opt->host);
        list_init(&b->hosts);
        list_init(&b->out_calls);
        list_init(&b->asks);
        list_init(&b->proxies);
        list_init(&b->in_calls);
        list_init(&b->sent_answers);
        list_init(&b->acks);
        while (b->epoch == 0)
                if (getrandom(&b->epoch, sizeof(b->epoch), 0) != sizeof(b->epoch))
                        b->epoch = 1;
        lh.userdata = ch.userdata = rh.userdata = b;
        /* The cluster first: it needs nothing of xnsd but the tag, which
         * only the attach gives; so attach, then join. Events xnsd sends
         * meanwhile wait in the socket until the loop runs. */
        r = local_new(&b->local, base, opt->socket_path, opt->host, opt->exports, opt->n_exports, &lh, &b->tag,
                      why, why_size);
        if (r < 0)
                goto fail;
        copt = (struct cluster_options){ .urls = opt->nats_urls, .host = opt->host, .tag = b->tag,
                                         .creds_file = opt->creds_file, .tls_ca_file = opt->tls_ca_file };
        r = cluster_new(&b->cluster, base, &copt, &ch, b->epoch, why, why_size);
        if (r < 0)
                goto fail;
        r = registry_new(&b->registry, base, b->cluster, opt->host, &rh);
        if (r < 0) {
                snprintf(why, why_size, "the name registry: %s", strerror(-r));
                goto fail;
        }
        b->ev_view = event_new(base, -1, 0, view_send, b);
        b->ev_acks = event_new(base, -1, 0, acks_send, b);
        b->ev_retry = event_new(base, -1, 0, asks_retry_due, b);
        if (!b->ev_view || !b->ev_acks || !b->ev_retry) {
                r = -ENOMEM;
                goto fail;
        }
        if (cluster_connected(b->cluster))
                b->heard_since = now_ms();
        view_changed(b);
        *out = b;
        return 0;
fail:
        bridge_free(b);
        return r;
}

static void list_free_all(struct list *l, size_t offset) {
        while (!list_is_empty(l)) {
                struct list *i = l->next;

                list_unlink(i);
                free((char *)i - offset);
        }
}

struct bridge *bridge_free(struct bridge *b) {
        struct out_call *c, *tmp;

        if (!b)
                return NULL;
        if (b->ev_view)
                event_free(b->ev_view);
        if (b->ev_retry)
                event_free(b->ev_retry);
        if (b->ev_acks) {
                acks_send(-1, 0, b);
                event_free(b->ev_acks);
        }
        b->registry = registry_free(b->registry);
        b->cluster = cluster_free(b->cluster);
        list_for_each_entry_safe(c, tmp, &b->out_calls, link) {
                list_unlink(&c->link);
                local_msg_fail(b->local, c->m, XNS_ERR_SERVER_NOT_FOUND);
                free(c);
        }
        b->local = local_free(b->local);
        list_free_all(&b->asks, offsetof(struct ask, link));
        list_free_all(&b->in_calls, offsetof(struct in_call, link));    /* local_free() ended their calls */
        list_free_all(&b->proxies, offsetof(struct proxy, link));
        list_free_all(&b->hosts, offsetof(struct known_host, link));
        tdestroy(b->callers, free);
        while (!list_is_empty(&b->sent_answers))
                sent_answer_free(b, list_first_entry(&b->sent_answers, struct sent_answer, link));
        free(b);
        return NULL;
}

bool bridge_failed(const struct bridge *b) {
        return b->failed;
}
