/* hosts.c: xns hosts on one machine for the cluster suites: each an xnsd
 * on a socket of its own and an xnsgw joining it to a NATS cluster. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "control.pb-c.h"
#include "hosts.h"
#include "wire.h"

/* Reads a snapshot xnsd sent beside reply on fd's link: the gateway's pid
 * and, when hosts is not NULL, the hosts its view holds (" a b c"). */
static int read_status(int mfd, uint32_t len, pid_t *pid, char *hosts, size_t size) {
        Xns__Snapshot *snap;
        void *map;

        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, mfd, 0);
        if (map == MAP_FAILED)
                return -errno;
        snap = xns__snapshot__unpack(NULL, len, map);
        munmap(map, len);
        if (!snap || !snap->status) {
                if (snap)
                        xns__snapshot__free_unpacked(snap, NULL);
                return -EBADMSG;
        }
        *pid = snap->status->gateway_host && *snap->status->gateway_host ? (pid_t)snap->status->gateway_pid : 0;
        if (hosts) {
                size_t n = 0;

                hosts[0] = '\0';
                for (size_t i = 0; i < snap->status->n_hosts && n < size; i++)
                        n += (size_t)snprintf(hosts + n, size - n, " %s", snap->status->hosts[i]->name);
        }
        xns__snapshot__free_unpacked(snap, NULL);
        return 0;
}

static int query_status(const char *sock, pid_t *pid, char *hosts, size_t size) {
        struct xns_request req = { .seq = 1, .op = XNS_OP_CONTROL, .control = { .what = XNS_CONTROL_STATUS } };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_reply reply;
        int fd, mfd = -1, r;
        ssize_t n;

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        n = xns_request_encode(&req, buf, sizeof(buf));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || n < 0 ||
            xns_frame_send(fd, buf, (size_t)n, -1, false) < 0 ||
            poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, 5000) != 1) {
                close(fd);
                return -EIO;
        }
        n = xns_frame_recv(fd, buf, sizeof(buf), &mfd, false);
        close(fd);
        r = n > 0 ? xns_reply_decode(&reply, buf, (size_t)n) : -EIO;
        if (r == 0 && (reply.body != XNS_BODY_SNAPSHOT || mfd < 0))
                r = -EBADMSG;
        if (r == 0)
                r = read_status(mfd, reply.snapshot, pid, hosts, size);
        if (mfd >= 0)
                close(mfd);
        return r;
}

int test_host_gateway_attached(const char *sock, pid_t *pid) {
        return query_status(sock, pid, NULL, 0);
}

int test_host_gateway_hosts(const char *sock, char *hosts, size_t size) {
        pid_t pid;

        return query_status(sock, &pid, hosts, size);
}

/* Whether the hosts " a b" heard hold every host of others. */
static bool heard_all(const char *heard, const char *const *others) {
        for (size_t j = 0; others[j]; j++) {
                char word[40];
                const char *p;
                size_t len;

                len = (size_t)snprintf(word, sizeof(word), " %s", others[j]);
                p = strstr(heard, word);
                if (!p || (p[len] != ' ' && p[len] != '\0'))
                        return false;
        }
        return true;
}

int test_host_wait_heard(const struct test_host *h, const char *const *others, int timeout_ms, char *why,
                         size_t why_size) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

        for (;;) {
                char seen[128] = "";

                if (test_host_gateway_hosts(h->xnsd.sock, seen, sizeof(seen)) == 0 && heard_all(seen, others))
                        return 0;
                if (now_ms() >= deadline) {
                        snprintf(why, why_size, "host %s's gateway heard only '%s'", h->name, seen);
                        return -ETIMEDOUT;
                }
                sleep_ms(10);
        }
}

static _Noreturn void exec_gateway(const struct test_host *h) {
        const char *exe = getenv("XNSGW");
        const char *argv[32];
        char log[128];
        size_t n = 0;
        int fd;

        snprintf(log, sizeof(log), "%s/xnsgw.log", h->xnsd.dir);
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
                dup2(fd, STDERR_FILENO);
                close(fd);
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        argv[n++] = "xnsgw";
        argv[n++] = "--socket";
        argv[n++] = h->xnsd.sock;
        argv[n++] = "--nats";
        argv[n++] = h->nats_urls;
        argv[n++] = "--host";
        argv[n++] = h->name;
        for (size_t i = 0; h->exports[i]; i++) {
                argv[n++] = "--export";
                argv[n++] = h->exports[i];
        }
        argv[n] = NULL;
        if (exe && *exe)
                execv(exe, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", exe ? exe : "(XNSGW not set)", strerror(errno));
        _exit(127);
}

void test_host_gateway_log(const struct test_host *h, char *buf, size_t size) {
        char path[128];
        FILE *f;
        long len;
        size_t n;

        buf[0] = '\0';
        snprintf(path, sizeof(path), "%s/xnsgw.log", h->xnsd.dir);
        f = fopen(path, "r");
        if (!f)
                return;
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        fseek(f, len > (long)size - 1 ? len - (long)size + 1 : 0, SEEK_SET);
        n = fread(buf, 1, size - 1, f);
        buf[n] = '\0';
        fclose(f);
}

int test_host_gateway_start(struct test_host *h, int timeout_ms, char *why, size_t why_size) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
        char log[1024];
        int status, r;
        pid_t pid;

        h->gw_pid = fork();
        if (h->gw_pid < 0) {
                r = -errno;
                snprintf(why, why_size, "fork: %s", strerror(-r));
                return r;
        }
        if (h->gw_pid == 0)
                exec_gateway(h);
        for (;;) {      /* until xnsd shows this gateway attached */
                r = test_host_gateway_attached(h->xnsd.sock, &pid);
                if (r == 0 && pid == h->gw_pid)
                        return 0;
                if (waitpid(h->gw_pid, &status, WNOHANG) == h->gw_pid) {
                        char how[96];

                        describe_status(how, sizeof(how), status);
                        test_host_gateway_log(h, log, sizeof(log));
                        snprintf(why, why_size, "xnsgw of host %s %s before it attached: %s", h->name, how, log);
                        h->gw_pid = -1;
                        return -ECHILD;
                }
                if (now_ms() >= deadline) {
                        test_host_gateway_log(h, log, sizeof(log));
                        snprintf(why, why_size, "xnsgw of host %s not attached within %d ms: %s", h->name,
                                 timeout_ms, log);
                        test_host_gateway_signal(h, SIGKILL);
                        return -ETIMEDOUT;
                }
                sleep_ms(5);
        }
}

int test_host_start(struct test_host *h, const char *name, const char *nats_urls, const char *const *exports,
                    int timeout_ms, char *why, size_t why_size) {
        return test_host_start_args(h, name, nats_urls, exports, NULL, timeout_ms, why, why_size);
}

int test_host_start_args(struct test_host *h, const char *name, const char *nats_urls, const char *const *exports,
                         const char *const *xnsd_extra, int timeout_ms, char *why, size_t why_size) {
        size_t n = 0;
        int r;

        *h = (struct test_host)TEST_HOST_INIT;
        snprintf(h->name, sizeof(h->name), "%s", name);
        snprintf(h->nats_urls, sizeof(h->nats_urls), "%s", nats_urls);
        for (; exports && exports[n] && n < TEST_HOST_EXPORTS_MAX; n++)
                h->exports[n] = exports[n];
        h->exports[n] = NULL;
        r = test_daemon_start(&h->xnsd, getenv("XNSD"), "/tmp/xns-host-XXXXXX", xnsd_extra, NULL, timeout_ms, why,
                              why_size);
        if (r < 0)
                return r;
        r = test_host_gateway_start(h, timeout_ms, why, why_size);
        if (r < 0)
                test_host_stop(h);
        return r;
}

void test_host_gateway_signal(struct test_host *h, int sig) {
        int status;

        if (h->gw_pid <= 0)
                return;
        kill(h->gw_pid, sig);
        if (sig == SIGKILL) {
                wait_child(h->gw_pid, &status, 10000);
                h->gw_pid = -1;
        }
}

int test_host_wait_dead(pid_t pid, int timeout_ms) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
        int status;

        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                char st;

                if (r == pid)
                        return 0;
                /* Not our child: dead once a zombie or gone. Our own is
                 * reaped: its leader shows 'Z' while its other threads still
                 * exit, and waitpid() cannot take it yet. */
                st = r < 0 && errno == ECHILD ? process_state(pid) : 'R';
                if (st == 0 || st == 'Z')
                        return 0;
                if (now_ms() >= deadline)
                        return -ETIMEDOUT;
                sleep_ms(2);
        }
}

/* Until xnsd of h shows no gateway attached: 0, or a negative errno. */
static int wait_gateway_detached(const struct test_host *h, int timeout_ms, char *why, size_t why_size) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
        pid_t pid = -1;
        int r;

        for (;;) {
                r = test_host_gateway_attached(h->xnsd.sock, &pid);
                if (r == 0 && pid == 0)
                        return 0;
                if (now_ms() >= deadline) {
                        snprintf(why, why_size, "host %s: a gateway still attached (%d, pid %d)", h->name, r,
                                 (int)pid);
                        return -ETIMEDOUT;
                }
                sleep_ms(5);
        }
}

int test_host_gateway_restart(struct test_host *h, int timeout_ms, char *why, size_t why_size) {
        int r;

        if (h->gw_pid > 0) {
                kill(h->gw_pid, SIGKILL);
                r = test_host_wait_dead(h->gw_pid, timeout_ms);
                if (r < 0) {
                        snprintf(why, why_size, "xnsgw %d of host %s still alive", (int)h->gw_pid, h->name);
                        return r;
                }
                h->gw_pid = -1;
        }
        r = wait_gateway_detached(h, timeout_ms, why, why_size);
        if (r < 0)
                return r;
        return test_host_gateway_start(h, timeout_ms, why, why_size);
}

void test_host_gateway_stop(struct test_host *h) {
        int status;

        if (h->gw_pid <= 0)
                return;
        kill(h->gw_pid, SIGCONT);
        kill(h->gw_pid, SIGTERM);
        if (wait_child(h->gw_pid, &status, 5000) == 0)
                test_host_gateway_signal(h, SIGKILL);
        h->gw_pid = -1;
}

void test_host_stop(struct test_host *h) {
        int status;

        test_host_gateway_stop(h);
        if (h->xnsd.pid > 0)
                test_daemon_stop(&h->xnsd, 5000, &status);
        if (h->xnsd.dir[0])
                test_daemon_remove_dir(&h->xnsd);
}
