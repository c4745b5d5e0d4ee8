/* cluster.h: the gateway's NATS connection: frames to and from other hosts'
 * gateways, chunked to fit NATS's payload limit, and the liveness of hosts
 * by their heartbeats. Every callback runs on the loop thread, which also
 * reads and writes libnats's socket (its event-loop mode). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

struct event_base;
struct cluster;

#define CLUSTER_HEARTBEAT_MS 200
#define CLUSTER_DEAD_MS 800
#define CLUSTER_LINGER_MIN_ITEMS 16     /* a send that makes a stream (cluster.c) */

struct cluster_options {
        const char *urls;               /* "nats://h:p[,nats://...]" */
        const char *host;               /* ours */
        uint32_t tag;                   /* our xnsd's SID tag, sent in heartbeats */
        const char *creds_file;         /* NULL or --nats-creds */
        const char *tls_ca_file;        /* NULL or --nats-tls-ca */
        uint32_t linger_us;             /* how long a stream's frames may wait (cluster.c); 0: the default */
};

/* A hook must not free the cluster. */
struct cluster_hooks {
        void *userdata;
        /* A frame from another host's gateway (not heartbeats). */
        void (*frame)(void *userdata, const char *from, const struct frame *f);
        /* A host was heard (first heartbeat, or a new epoch: it restarted) */
        void (*host_up)(void *userdata, const char *host, uint32_t tag, uint64_t epoch);
        /* ... or fell silent for CLUSTER_DEAD_MS, or came back with a new epoch
         * (host_down for the old epoch comes first). */
        void (*host_down)(void *userdata, const char *host, uint64_t epoch);
        /* Our connection to NATS: lost (true) / back (false). */
        void (*connection)(void *userdata, bool up);
};

/* Connects (SendAsap, reconnect forever, inbox prefix _INBOX_<host>) and
 * subscribes; starts heartbeats. Fails (negative errno, logged reason in
 * why) when no server answers at first. */
int cluster_new(struct cluster **out, struct event_base *base, const struct cluster_options *opt,
                const struct cluster_hooks *hooks, uint64_t epoch, char *why, size_t why_size);
struct cluster *cluster_free(struct cluster *c);

/* Sends f to host (chunked when big). 0, or -ENOTCONN / -ENOMEM / ... */
int cluster_send(struct cluster *c, const char *host, const struct frame *f);

/* The live hosts we hear (not us): for each, its name, tag and epoch. */
size_t cluster_hosts(struct cluster *c, void (*each)(void *userdata, const char *host, uint32_t tag,
                                                     uint64_t epoch), void *userdata);
/* The host whose xnsd hands out SIDs with this tag (ours too), or NULL. */
const char *cluster_host_by_tag(struct cluster *c, uint32_t tag);
bool cluster_host_alive(struct cluster *c, const char *host);
/* The URL of the NATS server we are connected to now, or "" */
const char *cluster_server_url(struct cluster *c);
bool cluster_connected(struct cluster *c);
/* libnats's socket is served by the loop. For a thread that waits on libnats
 * (a JetStream request) before the loop runs or after it stopped: serve
 * it from the loop's thread until done(arg), or limit_ms passed; the
 * thread calls cluster_wake() when done() may have become true. */
void cluster_serve_until(struct cluster *c, bool (*done)(void *arg), void *arg, unsigned limit_ms);
void cluster_wake(struct cluster *c);
/* The natsConnection, for the registry (JetStream shares it). */
struct __natsConnection *cluster_nats(struct cluster *c);
