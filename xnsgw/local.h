/* local.h: the gateway's links to its host's xnsd: attached as the gateway,
 * the proxies (servers here standing in for other hosts' servers) and the
 * sessions standing in for other hosts' processes. Non-blocking, on the
 * loop thread; every callback runs there. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct event_base;
struct local;

/* A message a local caller sent to a proxy, for the bridge to carry away.
 * Owned by local: the bridge ends it with exactly one local_msg_*() call
 * below, which frees it. */
struct local_msg {
        struct xns_sid sid;             /* the proxy's, which is the remote server's */
        bool blocking;                  /* the caller waits for an answer */
        uint32_t kind, id;
        uint32_t a[4];
        uint32_t len, offset, valid;
        uint32_t sender_pid, sender_uid;
        const uint8_t *data;            /* memory kinds: the caller's len bytes (mapped) */
};

/* A call from another host's process into a server here. */
struct local_call {
        struct xns_origin origin;       /* the remote process */
        struct xns_sid sid;             /* the server here */
        uint32_t kind, id;
        uint32_t a[4];
        uint32_t len, offset, valid;
        const uint8_t *data;            /* memory kinds: len bytes, copied before local_call() returns */
};

/* How a local_call() ended. */
struct local_result {
        uint32_t error;                 /* Xous error (xous-codes.h), 0 = answered / queued */
        uint32_t count, v[5];           /* BlockingScalar: reply words */
        uint32_t offset, valid;         /* Borrow, MutableBorrow */
        const uint8_t *data;            /* MutableBorrow: the pages the server changed, */
        size_t data_len;                /* valid during the callback only, */
        uint32_t data_at;               /* from this offset (the others are as lent) */
};

typedef void (*local_call_done_fn)(void *userdata, const struct local_result *r);
typedef void (*local_done_fn)(void *userdata, uint32_t error, const struct xns_sid *sid);

struct local_hooks {
        void *userdata;
        /* xnsd asks something of the cluster: answer with local_answer(). */
        void (*event)(void *userdata, const struct xns_gateway_event *e);
        /* A local caller sent m to a proxy. */
        void (*message)(void *userdata, struct local_msg *m);
        /* xnsd closed the gateway's link (it exited): nothing works any more. */
        void (*gone)(void *userdata);
};

/*
 * Connects to xnsd at socket_path, says Hello, attaches as the gateway of
 * host with these export patterns ("name" or "prefix*"), and learns *tag,
 * the w0 of every SID this xnsd makes. Blocking, once, at start-up; then
 * everything runs on base. Negative errno (why says what happened).
 */
int local_new(struct local **out, struct event_base *base, const char *socket_path, const char *host,
              const char *const *exports, size_t n_exports, const struct local_hooks *hooks,
              uint32_t *tag, char *why, size_t why_size);
struct local *local_free(struct local *l);

/* Answers xnsd's event ticket: error (Xous), and for a lookup or connect the
 * SID of the proxy, which local_proxy_add() made first. */
void local_answer(struct local *l, uint32_t ticket, uint32_t error, const struct xns_sid *sid);
/* Tells xnsd what the gateway sees of the cluster (len bytes of a packed
 * ClusterView, control.proto), which xnsctl shows. */
int local_view(struct local *l, const void *view, size_t len);

/* A proxy: a server here with the SID of another host's server, whose
 * messages come to hooks->message. done: 0 (also when it existed already),
 * or the error. Removing one fails what waits on it with SERVER_NOT_FOUND. */
int local_proxy_add(struct local *l, const struct xns_sid *sid, local_done_fn done, void *userdata);
void local_proxy_remove(struct local *l, const struct xns_sid *sid);
bool local_proxy_exists(struct local *l, const struct xns_sid *sid);

/* Ends a proxy's message: the answer for a BlockingScalar (count 1, 2 or 5),
 * memory given back (MutableBorrow: data, data_len bytes written into the
 * caller's buffer at offset at first, within its m->len), failed with a
 * Xous error, or just let go (kinds without an answer, or a caller that
 * needs none). */
void local_msg_answer_scalar(struct local *l, struct local_msg *m, uint32_t count, const uint32_t v[5]);
void local_msg_answer_memory(struct local *l, struct local_msg *m, const uint8_t *data, size_t data_len,
                             uint32_t at, uint32_t offset, uint32_t valid);
void local_msg_fail(struct local *l, struct local_msg *m, uint32_t error);
void local_msg_done(struct local *l, struct local_msg *m);

/*
 * The origin process's session: a connection to a server here by name
 * (request_connection, counted against its max_conns, checked by the
 * policy; sid is the name's SID, as the registry says) or by SID (connect).
 * done: 0 or the Xous error, with the SID.
 */
int local_grant_name(struct local *l, const struct xns_origin *o, const char *name, const struct xns_sid *sid,
                     local_done_fn done, void *userdata);
int local_grant_sid(struct local *l, const struct xns_origin *o, const struct xns_sid *sid, local_done_fn done,
                    void *userdata);

/*
 * Sends c into its server on behalf of c->origin (its session, connected to
 * c->sid first when it is not yet). done once: for a blocking kind with the
 * answer, for Scalar and Move once queued (a full queue makes it wait), or
 * with the error. Calls of one origin start in the order given; a
 * non-blocking one is queued before the next of that origin starts.
 */
int local_call(struct local *l, const struct local_call *c, local_call_done_fn done, void *userdata);

/* The origin process is gone: what it sent is still sent, then its session
 * closes (its calls still waiting end with SERVER_NOT_FOUND). Every process
 * of host is gone (it fell silent): their sessions close at once, and their
 * pending local_call()s end with SERVER_NOT_FOUND before this returns. */
void local_origin_gone(struct local *l, const char *host, uint32_t pid);
void local_host_gone(struct local *l, const char *host);
