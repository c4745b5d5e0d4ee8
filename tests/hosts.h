/* hosts.h: xns hosts on one machine for the cluster suites: each an xnsd
 * on a socket of its own and an xnsgw joining it to a NATS cluster. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemon.h"

#define TEST_HOST_EXPORTS_MAX 4

struct test_host {
        char name[16];                  /* its host name in the cluster */
        struct test_daemon xnsd;        /* xnsd.dir also holds xnsgw.log */
        pid_t gw_pid;                   /* -1: no gateway running */
        char nats_urls[256];
        const char *exports[TEST_HOST_EXPORTS_MAX + 1];   /* NULL-terminated */
};

#define TEST_HOST_INIT { .xnsd = TEST_DAEMON_INIT, .gw_pid = -1 }

/*
 * Starts xnsd (XNSD, in a fresh directory) and xnsgw (XNSGW) for host name,
 * exporting exports (NULL-terminated), joined to the NATS servers
 * nats_urls, and waits until xnsd shows the gateway attached. On failure
 * a negative errno, why saying what happened; nothing is left running.
 */
int test_host_start(struct test_host *h, const char *name, const char *nats_urls, const char *const *exports,
                    int timeout_ms, char *why, size_t why_size);
/* The same, xnsd started with the options xnsd_extra (NULL-terminated, may
 * be NULL) after its --socket. */
int test_host_start_args(struct test_host *h, const char *name, const char *nats_urls, const char *const *exports,
                         const char *const *xnsd_extra, int timeout_ms, char *why, size_t why_size);
/* Starts the host's gateway again (after it was killed) and waits for it. */
int test_host_gateway_start(struct test_host *h, int timeout_ms, char *why, size_t why_size);
/* SIGKILLs the gateway (a child of this process or not), waits until xnsd
 * let it go and starts a new one, a child of this process. */
int test_host_gateway_restart(struct test_host *h, int timeout_ms, char *why, size_t why_size);
/* Stops the gateway: SIGCONT and SIGTERM, then SIGKILL after 5 s. */
void test_host_gateway_stop(struct test_host *h);
/* Until process pid (a child of this process or not) is dead: 0, or
 * -ETIMEDOUT after timeout_ms. */
int test_host_wait_dead(pid_t pid, int timeout_ms);
/* Sends sig to the gateway; SIGKILL waits until it is reaped. */
void test_host_gateway_signal(struct test_host *h, int sig);
/* Stops the gateway and xnsd (SIGTERM, then SIGKILL), removes the directory. */
void test_host_stop(struct test_host *h);
/* The pid of the gateway xnsd shows attached, 0 for none, negative errno. */
int test_host_gateway_attached(const char *sock, pid_t *pid);
/* The hosts the attached gateway's view holds, as " a b c" (xnsctl status
 * shows them; the gateway pushes its view to xnsd when it changes). */
int test_host_gateway_hosts(const char *sock, char *hosts, size_t size);
/* Until the view of h's gateway holds every host of others (NULL-terminated):
 * 0, or -ETIMEDOUT after timeout_ms with why saying what it held. */
int test_host_wait_heard(const struct test_host *h, const char *const *others, int timeout_ms, char *why,
                         size_t why_size);
/* The last lines of the gateway's log, for failure messages. */
void test_host_gateway_log(const struct test_host *h, char *buf, size_t size);
