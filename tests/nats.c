/* nats.c: start, check, signal and stop a private NATS cluster on loopback; connect to it with libnats. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "macro.h"
#include "nats.h"

#define START_ATTEMPTS 3        /* a port taken between picking and binding: pick again */
#define HTTP_TIMEOUT_MS 1000    /* a stopped node accepts but never answers */
#define HTTP_MAX 65536
#define SIGNAL_WAIT_MS 5000
#define POLL_MS 10

/* --- ports -------------------------------------------------------------- */

static int bound_loopback_socket(int *port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        *port = ntohs(sa.sin_port);
        return fd;
}

/* n distinct free ports: all held bound at once, then released for the
 * nodes to bind (a race with whoever binds next, settled by a new attempt). */
static int pick_ports(int *ports, size_t n) {
        int fds[3 * TEST_NATS_MAX];
        size_t got = 0;
        int r = 0;

        if (n > ELEMENTSOF(fds))
                return -EINVAL;
        for (; got < n; got++) {
                r = bound_loopback_socket(&ports[got]);
                if (r < 0)
                        break;
                fds[got] = r;
        }
        while (got > 0)
                close(fds[--got]);
        return r < 0 ? r : 0;
}

/* --- the monitoring endpoint --------------------------------------------- */

/* A blocking loopback socket whose connect, reads and writes give up
 * after HTTP_TIMEOUT_MS each. */
static int http_connect(int port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct timeval tv = { .tv_sec = HTTP_TIMEOUT_MS / 1000, .tv_usec = HTTP_TIMEOUT_MS % 1000 * 1000 };
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* Reads until EOF into buf (NUL-terminated): the length, or a negative errno. */
static int read_until_eof(int fd, char *buf, size_t size) {
        uint64_t deadline = now_ms() + HTTP_TIMEOUT_MS;
        size_t got = 0;

        for (;;) {
                ssize_t n = read(fd, buf + got, size - 1 - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
                got += (size_t)n;
                buf[got] = 0;
                if (n == 0 || got == size - 1)
                        return (int)got;
                if (now_ms() > deadline)
                        return -ETIMEDOUT;
        }
}

/* GET path from the node's monitoring port: the HTTP status, and the body
 * (NUL-terminated) at *body inside buf; or a negative errno. */
static int http_get(int port, const char *path, char *buf, size_t size, char **body) {
        _cleanup_close_ int fd = http_connect(port);
        char req[256];
        int n, r, status;

        if (fd < 0)
                return fd;
        n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
        if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
                return errno == EAGAIN ? -ETIMEDOUT : -errno;
        r = read_until_eof(fd, buf, size);
        if (r < 0)
                return r;
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
                return -EBADMSG;
        *body = strstr(buf, "\r\n\r\n");
        *body = *body ? *body + 4 : buf + r;
        return status;
}

/* The string after "key": in a JSON text, copied into buf; false without one. */
static bool json_string(const char *json, const char *key, char *buf, size_t size) {
        char quoted[64];
        const char *p, *end;

        snprintf(quoted, sizeof(quoted), "\"%s\":", key);
        p = strstr(json, quoted);
        if (!p)
                return false;
        p = strchr(p + strlen(quoted), '"');
        end = p ? strchr(p + 1, '"') : NULL;
        if (!end || (size_t)(end - p - 1) >= size)
                return false;
        snprintf(buf, size, "%.*s", (int)(end - p - 1), p + 1);
        return true;
}

/* --- readiness ----------------------------------------------------------- */

static unsigned live_nodes(const struct test_nats *c) {
        unsigned live = 0;

        for (unsigned i = 0; i < c->n; i++)
                live += c->node[i].pid > 0 && !c->node[i].down;
        return live;
}

int test_nats_node_by_name(const struct test_nats *c, const char *name) {
        for (unsigned i = 0; i < c->n; i++)
                if (!strcmp(c->node[i].name, name))
                        return (int)i;
        return -1;
}

/* Node i knows a JetStream meta leader, and that leader is live: a
 * follower keeps naming a dead leader until its election timeout. */
static bool has_live_meta_leader(const struct test_nats *c, const char *jsz) {
        const char *meta = strstr(jsz, "\"meta_cluster\"");
        char leader[16];
        int l;

        if (!meta || !json_string(meta, "leader", leader, sizeof(leader)))
                return false;
        l = test_nats_node_by_name(c, leader);
        return l >= 0 && c->node[l].pid > 0 && !c->node[l].down;
}

/* 1 when node i is ready, 0 when not yet (why says what it lacks). */
static int node_ready(const struct test_nats *c, unsigned i, char *why, size_t why_size) {
        const struct test_nats_node *node = &c->node[i];
        _cleanup_free_ char *buf = malloc(HTTP_MAX);
        unsigned live = live_nodes(c);
        char *body;
        long routes;
        int status;

        if (!buf)
                return -ENOMEM;
        status = http_get(node->http_port, "/healthz", buf, HTTP_MAX, &body);
        if (status != 200) {
                snprintf(why, why_size, "%s: /healthz: %s", node->name, status < 0 ? strerror(-status) : body);
                return 0;
        }
        if (c->n > 1) {
                status = http_get(node->http_port, "/routez", buf, HTTP_MAX, &body);
                if (status != 200 || !json_long(body, "num_routes", &routes))
                        routes = -1;
                if (routes != (long)live - 1) {
                        snprintf(why, why_size, "%s: %ld routes, want %u", node->name, routes, live - 1);
                        return 0;
                }
        }
        if (c->jetstream && c->n > 1) {
                status = http_get(node->http_port, "/jsz", buf, HTTP_MAX, &body);
                if (status != 200 || !has_live_meta_leader(c, body)) {
                        snprintf(why, why_size, "%s: no live JetStream meta leader yet", node->name);
                        return 0;
                }
        }
        return 1;
}

/* A node that exited (only a child of ours can be seen to): -ECHILD. */
static int check_alive(struct test_nats *c, unsigned i, char *why, size_t why_size) {
        struct test_nats_node *node = &c->node[i];
        char how[96], tail[400];
        int status;

        if (waitpid(node->pid, &status, WNOHANG) != node->pid)
                return 0;
        node->pid = -1;
        describe_status(how, sizeof(how), status);
        test_nats_log_tail(c, i, tail, sizeof(tail));
        snprintf(why, why_size, "nats-server %s %s: %s", node->name, how, tail);
        return -ECHILD;
}

int test_nats_wait_ready(struct test_nats *c, int timeout_ms, char *why, size_t why_size) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
        char last[300] = "";

        for (;;) {
                unsigned ready = 0;

                for (unsigned i = 0; i < c->n; i++) {
                        int r;

                        if (c->node[i].pid <= 0 || c->node[i].down)
                                continue;
                        r = check_alive(c, i, why, why_size);
                        if (r < 0)
                                return r;
                        r = node_ready(c, i, last, sizeof(last));
                        if (r < 0)
                                return r;
                        if (r == 0)
                                break;
                        ready++;
                }
                if (ready == live_nodes(c))
                        return 0;
                if (now_ms() > deadline) {
                        snprintf(why, why_size, "NATS cluster not ready within %d ms (%s)", timeout_ms, last);
                        return -ETIMEDOUT;
                }
                sleep_ms(POLL_MS);
        }
}

/* --- starting ------------------------------------------------------------ */

static void node_file(const struct test_nats *c, unsigned i, const char *fmt, char *buf, size_t size) {
        char name[32];

        snprintf(name, sizeof(name), fmt, i);
        snprintf(buf, size, "%s/%s", c->dir, name);
}

void test_nats_log_tail(const struct test_nats *c, unsigned i, char *buf, size_t size) {
        char path[160];
        _cleanup_close_ int fd = -1;
        off_t end;
        ssize_t n;

        buf[0] = 0;
        node_file(c, i, TEST_NATS_LOG, path, sizeof(path));
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        end = lseek(fd, 0, SEEK_END);
        if (end < 0)
                return;
        n = pread(fd, buf, size - 1, end > (off_t)size - 1 ? end - (off_t)size + 1 : 0);
        buf[n > 0 ? n : 0] = 0;
}

/* The routes of node i: every other node's route port. */
static void routes_arg(const struct test_nats *c, unsigned i, char *buf, size_t size) {
        size_t len = 0;

        buf[0] = 0;
        for (unsigned j = 0; j < c->n; j++)
                if (j != i)
                        len += (size_t)snprintf(buf + len, size - len, "%snats://127.0.0.1:%d", len ? "," : "",
                                                c->node[j].route_port);
}

/* Appends the NULL-terminated args to argv[n...]: the new n. */
static size_t append_args(const char **argv, size_t n, const char *const *args) {
        while (*args)
                argv[n++] = *args++;
        return n;
}

static _Noreturn void exec_node(const struct test_nats *c, unsigned i, const char *exe) {
        const struct test_nats_node *node = &c->node[i];
        char port[16], http[16], log[160], store[160], cluster[48], routes[160];
        const char *argv[24];
        size_t n = 0;

        snprintf(port, sizeof(port), "%d", node->port);
        snprintf(http, sizeof(http), "%d", node->http_port);
        node_file(c, i, TEST_NATS_LOG, log, sizeof(log));
        node_file(c, i, "store-n%u", store, sizeof(store));
        snprintf(cluster, sizeof(cluster), "nats://127.0.0.1:%d", node->route_port);
        routes_arg(c, i, routes, sizeof(routes));
        n = append_args(argv, n, (const char *[]){ "nats-server", "-a", "127.0.0.1", "-p", port, "-m", http,
                                                   "-n", node->name, "-l", log, NULL });
        if (c->jetstream)
                n = append_args(argv, n, (const char *[]){ "-js", "--store_dir", store, NULL });
        if (c->n > 1)
                n = append_args(argv, n, (const char *[]){ "--cluster_name", "xns-test", "--cluster", cluster,
                                                           "--routes", routes, NULL });
        argv[n] = NULL;
        execv(exe, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
        _exit(127);
}

static int spawn_node(struct test_nats *c, unsigned i, const struct test_nats_config *cfg) {
        pid_t parent = getpid();
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(1);
                if (cfg->child_setup)
                        cfg->child_setup();
                exec_node(c, i, cfg->exe);
        }
        c->node[i].pid = pid;
        return 0;
}

static int spawn_all(struct test_nats *c, const struct test_nats_config *cfg, char *why, size_t why_size) {
        int ports[3 * TEST_NATS_MAX], r;

        r = pick_ports(ports, 3 * (size_t)c->n);
        if (r < 0) {
                snprintf(why, why_size, "cannot find free ports: %s", strerror(-r));
                return r;
        }
        for (unsigned i = 0; i < c->n; i++) {
                struct test_nats_node *node = &c->node[i];

                *node = (struct test_nats_node){ .pid = -1, .port = ports[3 * i], .route_port = ports[3 * i + 1],
                                                 .http_port = ports[3 * i + 2] };
                snprintf(node->name, sizeof(node->name), "n%u", i);
                snprintf(node->url, sizeof(node->url), "nats://127.0.0.1:%d", node->port);
        }
        for (unsigned i = 0; i < c->n; i++) {
                r = spawn_node(c, i, cfg);
                if (r < 0) {
                        snprintf(why, why_size, "fork: %s", strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int make_dir(struct test_nats *c, const struct test_nats_config *cfg, char *why, size_t why_size) {
        if (!cfg->dir_template) {
                snprintf(c->dir, sizeof(c->dir), "%s", cfg->dir);
                return 0;
        }
        snprintf(c->dir, sizeof(c->dir), "%s", cfg->dir_template);
        if (!mkdtemp(c->dir)) {
                int r = -errno;

                snprintf(why, why_size, "mkdtemp %s: %s", cfg->dir_template, strerror(-r));
                c->dir[0] = 0;
                return r;
        }
        c->own_dir = true;
        return 0;
}

static int validate_config(const struct test_nats_config *cfg, char *why, size_t why_size) {
        if (!cfg->exe || cfg->nodes < 1 || cfg->nodes > TEST_NATS_MAX || (!cfg->dir_template == !cfg->dir) ||
            (cfg->jetstream && !cfg->dir_template)) {
                snprintf(why, why_size, "bad NATS cluster configuration");
                return -EINVAL;
        }
        return 0;
}

int test_nats_start(struct test_nats *c, const struct test_nats_config *cfg, char *why, size_t why_size) {
        int r;

        r = validate_config(cfg, why, why_size);
        if (r < 0)
                return r;
        *c = (struct test_nats){ .n = cfg->nodes, .jetstream = cfg->jetstream };
        r = make_dir(c, cfg, why, why_size);
        if (r < 0)
                return r;
        for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
                r = spawn_all(c, cfg, why, why_size);
                if (r >= 0)
                        r = test_nats_wait_ready(c, cfg->timeout_ms, why, why_size);
                if (r >= 0)
                        return 0;
                test_nats_stop(c, 1000);
                /* Only a node that exited (a port taken meanwhile) earns a retry. */
                if (r != -ECHILD)
                        break;
        }
        test_nats_remove_dir(c);
        return r;
}

/* --- signals and stopping ------------------------------------------------ */

/* The process is dead: reaped here, or a zombie (or gone) when it is not our
 * child. True once it is, within timeout_ms. */
static bool wait_dead(struct test_nats_node *node, int timeout_ms) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

        for (;;) {
                int status;
                pid_t r = waitpid(node->pid, &status, WNOHANG);
                char state;

                if (r == node->pid) {
                        node->pid = -1;
                        return true;
                }
                if (r < 0 && errno == ECHILD) {
                        state = process_state(node->pid);
                        if (state == 0 || state == 'Z')
                                return true;
                }
                if (now_ms() > deadline)
                        return false;
                sleep_ms(1);
        }
}

static bool wait_state(pid_t pid, bool stopped, int timeout_ms) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

        for (;;) {
                char state = process_state(pid);

                if ((state == 'T') == stopped)
                        return true;
                if (now_ms() > deadline)
                        return false;
                sleep_ms(1);
        }
}

int test_nats_signal(struct test_nats *c, unsigned i, int sig) {
        struct test_nats_node *node = &c->node[i];

        if (i >= c->n || node->pid <= 0)
                return -ESRCH;
        if (kill(node->pid, sig) < 0)
                return -errno;
        if (sig == SIGKILL) {
                node->down = true;
                return wait_dead(node, SIGNAL_WAIT_MS) ? 0 : -ETIMEDOUT;
        }
        if (sig == SIGSTOP || sig == SIGCONT)
                return wait_state(node->pid, sig == SIGSTOP, SIGNAL_WAIT_MS) ? 0 : -ETIMEDOUT;
        return 0;
}

int test_nats_restart(struct test_nats *c, unsigned i, const char *exe, int timeout_ms, char *why, size_t why_size) {
        struct test_nats_config cfg = { .exe = exe };
        int r;

        if (i >= c->n || !c->node[i].down) {
                snprintf(why, why_size, "node %u is not down", i);
                return -EINVAL;
        }
        r = spawn_node(c, i, &cfg);
        if (r < 0) {
                snprintf(why, why_size, "fork: %s", strerror(-r));
                return r;
        }
        c->node[i].down = false;
        r = test_nats_wait_ready(c, timeout_ms, why, why_size);
        if (r == -ECHILD)
                c->node[i].down = true;
        return r;
}

int test_nats_stop(struct test_nats *c, int timeout_ms) {
        int result = 1;

        for (unsigned i = 0; i < c->n; i++)
                if (c->node[i].pid > 0) {
                        kill(c->node[i].pid, SIGTERM);
                        kill(c->node[i].pid, SIGCONT);
                }
        for (unsigned i = 0; i < c->n; i++) {
                struct test_nats_node *node = &c->node[i];

                if (node->pid <= 0)
                        continue;
                if (!wait_dead(node, timeout_ms)) {
                        kill(node->pid, SIGKILL);
                        if (!wait_dead(node, SIGNAL_WAIT_MS))
                                result = -ETIMEDOUT;
                        else if (result > 0)
                                result = 0;
                }
                node->pid = -1;
        }
        return result;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        remove(path);
        return 0;
}

void test_nats_remove_dir(struct test_nats *c) {
        if (c->own_dir && c->dir[0])
                nftw(c->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        c->own_dir = false;
        c->dir[0] = 0;
}

/* --- clients ------------------------------------------------------------- */

natsStatus test_nats_connect(natsConnection **nc, const struct test_nats *c, unsigned i, bool send_asap) {
        natsOptions *opts = NULL;
        natsStatus s;

        s = natsOptions_Create(&opts);
        if (s == NATS_OK)
                s = natsOptions_SetURL(opts, c->node[i].url);
        if (s == NATS_OK)
                s = natsOptions_SetSendAsap(opts, send_asap);
        if (s == NATS_OK)
                s = natsConnection_Connect(nc, opts);
        natsOptions_Destroy(opts);
        return s;
}

natsStatus test_nats_await_responder(natsConnection *nc, const char *subject, int timeout_ms) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

        for (;;) {
                natsMsg *reply = NULL;
                natsStatus s = natsConnection_RequestString(&reply, nc, subject, "ping", timeout_ms);

                natsMsg_Destroy(reply);
                if (s != NATS_NO_RESPONDERS || now_ms() > deadline)
                        return s;
                sleep_ms(POLL_MS);
        }
}
