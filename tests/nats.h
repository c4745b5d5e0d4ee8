/* nats.h: a private NATS cluster (1 to 3 nats-server processes on loopback,
 * full-mesh routes, JetStream in a fresh temporary directory) for the
 * cluster suites and xnsbench, and the libnats client calls both make. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <nats/nats.h>

#define TEST_NATS_MAX 3
#define TEST_NATS_LOG "nats-n%u.log"    /* a node's log in the cluster's directory */

struct test_nats_node {
        pid_t pid;              /* -1: not running */
        bool down;              /* killed by test_nats_signal(): not counted as live */
        int port, route_port, http_port;
        char name[8];           /* its server name: n0, n1, n2 */
        char url[40];           /* nats://127.0.0.1:PORT */
};

struct test_nats {
        unsigned n;
        bool jetstream;
        bool own_dir;           /* dir was made by test_nats_start() and goes with it */
        char dir[96];           /* the logs, and the JetStream stores */
        struct test_nats_node node[TEST_NATS_MAX];
};

#define TEST_NATS_INIT { .n = 0 }

struct test_nats_config {
        const char *exe;                /* nats-server */
        unsigned nodes;                 /* 1 to TEST_NATS_MAX */
        bool jetstream;                 /* -js, a store per node: needs dir_template */
        const char *dir_template;       /* mkdtemp() a directory for the nodes' files, or */
        const char *dir;                /* put them (logs only) in this existing one */
        void (*child_setup)(void);      /* run in each node's child before exec; may be NULL */
        int timeout_ms;                 /* to be ready, per attempt */
};

/*
 * Starts cfg->nodes nats-server processes on free loopback ports (client,
 * route and monitoring ports picked by binding port 0; a node that cannot
 * bind them makes another attempt with new ones), each routed to all the
 * others, and waits until every node answers /healthz, has its routes to
 * all the others and (with JetStream) knows a meta leader that is one of
 * them. Each node dies with the thread that started it (PR_SET_PDEATHSIG).
 * On failure returns a negative errno with why saying what happened, and
 * leaves nothing running and no directory of its own behind.
 */
int test_nats_start(struct test_nats *c, const struct test_nats_config *cfg, char *why, size_t why_size);
/* Waits up to timeout_ms until the live nodes are ready as above, with
 * routes to each other only: after a node was killed, or continued. */
int test_nats_wait_ready(struct test_nats *c, int timeout_ms, char *why, size_t why_size);
/* Sends sig to node i and waits (bounded) for its effect: SIGKILL until the
 * process is dead (reaped when it is our child; the node counts as down),
 * SIGSTOP until it is stopped, SIGCONT until it runs again. */
int test_nats_signal(struct test_nats *c, unsigned i, int sig);
/* Starts node i again after a SIGKILL, on its ports and with its store
 * (exe: nats-server), and waits up to timeout_ms until the live nodes are
 * ready. The new process dies with the calling thread. -ECHILD when it
 * exited (a port taken meanwhile): the node stays down. */
int test_nats_restart(struct test_nats *c, unsigned i, const char *exe, int timeout_ms, char *why, size_t why_size);
/* SIGTERM (and SIGCONT) to every node, up to timeout_ms for each to exit,
 * then SIGKILL. 1 when all exited in time, 0 when one had to be killed,
 * negative errno on failure. Leaves the directory. */
int test_nats_stop(struct test_nats *c, int timeout_ms);
/* Removes a directory of its own with everything in it. */
void test_nats_remove_dir(struct test_nats *c);
/* The node of that server name, or -1. */
int test_nats_node_by_name(const struct test_nats *c, const char *name);
/* The last lines of node i's log, for failure messages. */
void test_nats_log_tail(const struct test_nats *c, unsigned i, char *buf, size_t size);

/* --- clients (libnats) ---------------------------------------------------- */

/* A connection to node i alone, with every message written at once
 * (natsOptions_SetSendAsap: nats.c otherwise waits 1 ms to batch) when
 * send_asap. */
natsStatus test_nats_connect(natsConnection **nc, const struct test_nats *c, unsigned i, bool send_asap);
/* Requests on subject until an answer comes rather than NATS_NO_RESPONDERS,
 * up to timeout_ms: a subscription reaches the other nodes through their
 * routes a little after its own node has it. */
natsStatus test_nats_await_responder(natsConnection *nc, const char *subject, int timeout_ms);
