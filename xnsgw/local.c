/* local.c: the gateway's link to its host's xnsd: attaching as the gateway,
 * xnsd's events and their answers. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "local-internal.h"
#include "macro.h"
#include "memfd.h"

#define LOCAL_START_TIMEOUT_MS 10000    /* for each answer while local_new() blocks */

/* --- deferred completions ------------------------------------------------ */

struct deferred_done {
        local_done_fn done;
        void *userdata;
        uint32_t error;
        bool has_sid;
        struct xns_sid sid;
};

static void deferred_done_run(evutil_socket_t fd, short what, void *arg) {
        struct deferred_done *d = arg;

        d->done(d->userdata, d->error, d->has_sid ? &d->sid : NULL);
        free(d);
}

void local_defer_done(struct local *l, local_done_fn done, void *userdata, uint32_t error, const struct xns_sid *sid) {
        static const struct timeval now = { 0, 0 };
        struct deferred_done *d;

        d = malloc(sizeof(*d));
        if (!d)
                return done(userdata, error ?: XNS_ERR_OUT_OF_MEMORY, sid);
        *d = (struct deferred_done){ .done = done, .userdata = userdata, .error = error, .has_sid = sid != NULL };
        if (sid)
                d->sid = *sid;
        if (event_base_once(l->base, -1, EV_TIMEOUT, deferred_done_run, d, &now) < 0) {
                free(d);
                done(userdata, error, sid);
        }
}

/* --- start-up: Hello and GatewayAttach, blocking ------------------------ */

static int sync_wait_readable(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n;

        do
                n = poll(&p, 1, LOCAL_START_TIMEOUT_MS);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return n == 0 ? -ETIMEDOUT : 0;
}

/* One request and its reply, before the loop runs. */
static int sync_call(struct llink *k, struct xns_request *req, struct xns_reply *reply) {
        uint8_t buf[XNS_FRAME_MAX];
        _cleanup_close_ int fd = -1;
        ssize_t n;
        int r;

        req->seq = ++k->seq;
        n = xns_request_encode(req, buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        r = xns_frame_send(k->fd, buf, (size_t)n, -1, true);
        if (r < 0)
                return r;
        r = sync_wait_readable(k->fd);
        if (r < 0)
                return r;
        n = xns_frame_recv(k->fd, buf, sizeof(buf), &fd, true);
        if (n <= 0)
                return n == 0 ? -ECONNRESET : (int)n;
        if (xns_reply_decode(reply, buf, (size_t)n) < 0 || reply->seq != req->seq)
                return -EBADMSG;
        return 0;
}

static int local_hello(struct local *l, char *why, size_t why_size) {
        struct xns_request req = { .op = XNS_OP_HELLO, .hello.version = XNS_PROTOCOL_VERSION };
        struct xns_reply reply;
        int r;

        r = sync_call(l->main, &req, &reply);
        if (r == 0 && reply.error == XNS_OK && reply.body != XNS_BODY_TOKEN)
                r = -EBADMSG;
        if (r < 0) {
                snprintf(why, why_size, "hello to xnsd at %s: %s", l->socket_path, strerror(-r));
                return r;
        }
        if (reply.error != XNS_OK) {
                snprintf(why, why_size, "xnsd refused the hello: %s", xns_error_name(reply.error) ?: "?");
                return -EPROTO;
        }
        memcpy(l->token, reply.token, XNS_TOKEN_LEN);
        return 0;
}

static int attach_result(uint32_t error) {
        switch (error) {
        case XNS_ERR_ACCESS_DENIED:
                return -EACCES;
        case XNS_ERR_SERVER_EXISTS:
                return -EEXIST;
        default:
                return -EPROTO;
        }
}

static int local_attach(struct local *l, const char *const *exports, size_t n_exports, char *why, size_t why_size) {
        struct xns_request req = { .op = XNS_OP_GATEWAY_ATTACH };
        struct xns_reply reply;
        int r;

        memcpy(req.gateway_attach.host, l->host, sizeof(l->host));
        req.gateway_attach.n_exports = (uint32_t)n_exports;
        for (size_t i = 0; i < n_exports; i++) {
                struct xns_name *n = &req.gateway_attach.exports[i];

                n->len = strlen(exports[i]);
                memcpy(n->str, exports[i], n->len + 1);
        }
        r = sync_call(l->main, &req, &reply);
        if (r == 0 && reply.error == XNS_OK && reply.body != XNS_BODY_TAG)
                r = -EBADMSG;
        if (r < 0) {
                snprintf(why, why_size, "attaching to xnsd: %s", strerror(-r));
                return r;
        }
        if (reply.error != XNS_OK) {
                snprintf(why, why_size, "xnsd refused the gateway: %s", xns_error_name(reply.error) ?: "?");
                return attach_result(reply.error);
        }
        l->tag = reply.tag;
        return 0;
}

static int validate_start(const char *socket_path, const char *host, const char *const *exports, size_t n_exports,
                          char *why, size_t why_size) {
        size_t max = sizeof(((struct local *)NULL)->socket_path) - 1;

        if (strlen(socket_path) > max) {
                snprintf(why, why_size, "socket path too long (%zu bytes, at most %zu): %.*s...", strlen(socket_path),
                         max, (int)max, socket_path);
                return -ENAMETOOLONG;
        }
        if (!xns_host_valid(host, strlen(host))) {
                snprintf(why, why_size, "invalid host name '%s'", host);
                return -EINVAL;
        }
        if (n_exports > XNS_EXPORTS_MAX) {
                snprintf(why, why_size, "%zu export patterns, at most %d", n_exports, XNS_EXPORTS_MAX);
                return -E2BIG;
        }
        for (size_t i = 0; i < n_exports; i++)
                if (strlen(exports[i]) == 0 || strlen(exports[i]) > XNS_NAME_MAX) {
                        snprintf(why, why_size, "invalid export pattern '%s'", exports[i]);
                        return -EINVAL;
                }
        return 0;
}

/* --- the main link ------------------------------------------------------ */

static int local_on_event(void *userdata, const struct xns_reply *reply) {
        struct local *l = userdata;

        if (reply->body != XNS_BODY_GATEWAY || reply->gateway.what == 0 || reply->gateway.what >= _XNS_GATEWAY_MAX)
                return -EBADMSG;
        if (l->hooks.event)
                l->hooks.event(l->hooks.userdata, &reply->gateway);
        return 0;
}

static void local_on_main_broken(void *userdata, int r) {
        struct local *l = userdata;

        l->gone = true;
        if (l->hooks.gone)
                l->hooks.gone(l->hooks.userdata);
}

static void local_reap(evutil_socket_t fd, short what, void *arg) {
        struct local *l = arg;
        struct llink *k;

        while ((k = list_first_entry(&l->dead, struct llink, dead_link)))
                llink_free(k);
}

static int local_start(struct local *l, const char *const *exports, size_t n_exports, char *why, size_t why_size) {
        int r;

        r = llink_open(l, &l->main);
        if (r < 0) {
                snprintf(why, why_size, "connecting to xnsd at %s: %s", l->socket_path, strerror(-r));
                return r;
        }
        r = local_hello(l, why, why_size);
        if (r < 0)
                return r;
        r = local_attach(l, exports, n_exports, why, why_size);
        if (r < 0)
                return r;
        l->main->unsolicited = local_on_event;
        l->main->broken = local_on_main_broken;
        l->main->userdata = l;
        return 0;
}

/*
 * local_new() - connects, says Hello and attaches as the gateway of host,
 * blocking (at most LOCAL_START_TIMEOUT_MS for each answer); from then on
 * everything runs on base. -EACCES: not privileged; -EEXIST: another
 * gateway is attached.
 */
int local_new(struct local **out, struct event_base *base, const char *socket_path, const char *host,
              const char *const *exports, size_t n_exports, const struct local_hooks *hooks,
              uint32_t *tag, char *why, size_t why_size) {
        struct local *l;
        int r;

        r = validate_start(socket_path, host, exports, n_exports, why, why_size);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->base = base;
        l->hooks = *hooks;
        strcpy(l->socket_path, socket_path);
        strcpy(l->host, host);
        list_init(&l->proxies);
        list_init(&l->sessions);
        list_init(&l->dead);
        l->reaper = event_new(base, -1, 0, local_reap, l);
        r = l->reaper ? local_start(l, exports, n_exports, why, why_size) : -ENOMEM;
        if (r < 0) {
                local_free(l);
                return r;
        }
        *tag = l->tag;
        *out = l;
        return 0;
}

/*
 * local_free() - closes every link; nothing waiting hears about it. The
 * bridge ends every local_msg it holds first. It may be called from
 * hooks->gone, but from no other callback of local.
 */
struct local *local_free(struct local *l) {
        if (!l)
                return NULL;
        local_proxies_free(l);
        local_sessions_free(l);
        llink_free(l->main);
        if (l->reaper) {
                local_reap(-1, 0, l);
                event_free(l->reaper);
        }
        free(l);
        return NULL;
}

/* local_answer() - the answer to xnsd's event ticket. */
void local_answer(struct local *l, uint32_t ticket, uint32_t error, const struct xns_sid *sid) {
        struct xns_request req = {
                .op = XNS_OP_GATEWAY_ANSWER,
                .gateway_answer = { .ticket = ticket, .error = error, .has_sid = sid != NULL },
        };

        if (sid)
                req.gateway_answer.sid = *sid;
        if (!l->gone)
                (void)llink_post(l->main, &req, -1);
}

/* local_view() - tells xnsd what the gateway sees of the cluster (a packed
 * ClusterView of control.proto), for xnsctl, in a sealed memfd. */
int local_view(struct local *l, const void *view, size_t len) {
        struct xns_request req = { .op = XNS_OP_GATEWAY_VIEW };
        _cleanup_close_ int fd = -1;
        int r;

        if (l->gone)
                return -ESHUTDOWN;
        r = memfd_new_sealed("xns-cluster-view", view, len, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL,
                             &fd);
        if (r < 0)
                return r;
        return llink_post(l->main, &req, fd);
}

void local_post_return(struct local *l, const struct xns_return *ret) {
        struct xns_request req = { .op = XNS_OP_RETURN, .ret = *ret };

        if (!l->gone)
                (void)llink_post(l->main, &req, -1);
}
