/* dbus.c: the D-Bus comparison cases: a method call with one u32 in and
 * out, through a private dbus-daemon and a private dbus-broker, with sd-bus
 * on both ends. dbus-broker runs without a launcher: this process is its
 * controller and hands it the listening socket and a policy. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bench.h"
#include "macro.h"

#define BENCH_NAME "org.xns.Bench"
#define BENCH_PATH "/org/xns/Bench"
#define BENCH_IFACE "org.xns.Bench"
#define BUS_START_MS 10000

/* A private message bus: the daemon process and where to connect. */
struct bus_daemon {
        pid_t pid;
        char address[160];
        sd_bus *controller;     /* dbus-broker only */
};

/* --- the server ---------------------------------------------------------- */

static int method_add_one(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        uint32_t v;
        int r;

        r = sd_bus_message_read(m, "u", &v);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "u", v + 1);
}

static int method_quit(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        *(bool *)userdata = true;
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable bench_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("AddOne", "u", "u", method_add_one, 0),
        SD_BUS_METHOD("Quit", NULL, NULL, method_quit, 0),
        SD_BUS_VTABLE_END
};

static int bus_connect(const char *address, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, 1);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

/* Owns BENCH_NAME and answers AddOne(u) with u + 1 until Quit. */
static void dbus_server_main(int chan, void *arg) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        bool quit = false;
        char ready = 1;
        int r;

        r = bus_connect(arg, &bus);
        if (r < 0)
                bench_fail("D-Bus server: connect to %s: %s", (const char *)arg, strerror(-r));
        r = sd_bus_add_object_vtable(bus, NULL, BENCH_PATH, BENCH_IFACE, bench_vtable, &quit);
        if (r < 0)
                bench_fail("D-Bus server: add object: %s", strerror(-r));
        r = sd_bus_request_name(bus, BENCH_NAME, 0);
        if (r < 0)
                bench_fail("D-Bus server: request name: %s", strerror(-r));
        chan_send(chan, &ready, 1);
        while (!quit) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        bench_fail("D-Bus server: process: %s", strerror(-r));
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        bench_fail("D-Bus server: wait: %s", strerror(-r));
        }
}

/* --- the client ---------------------------------------------------------- */

static int64_t dbus_round(void *ctx, uint32_t i) {
        sd_bus *bus = ctx;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint32_t v = 0;
        int64_t t0 = now_ns(), t;
        int r;

        r = sd_bus_call_method(bus, BENCH_NAME, BENCH_PATH, BENCH_IFACE, "AddOne", &error, &reply, "u", i);
        if (r >= 0)
                r = sd_bus_message_read(reply, "u", &v);
        t = now_ns() - t0;
        if (r < 0)
                bench_fail("AddOne(%u): %s", i, error.message ? error.message : strerror(-r));
        if (v != i + 1)
                bench_fail("AddOne(%u) answered %u, want %u", i, v, i + 1);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        return t;
}

static void measure_bus(struct result *r, struct bus_daemon *d) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct child server;
        size_t n = rounds_latency();
        pid_t pids[2];
        char ready;
        int ret;

        child_start(&server, "the D-Bus server", dbus_server_main, d->address, NULL, 0);
        child_recv(&server, &ready, 1);
        ret = bus_connect(d->address, &bus);
        if (ret < 0)
                bench_fail("connect to %s: %s", d->address, strerror(-ret));
        pids[0] = d->pid;
        pids[1] = server.pid;
        measure_latency(r, n, n < 200 ? n : 200, dbus_round, bus, pids, 2);
        ret = sd_bus_call_method(bus, BENCH_NAME, BENCH_PATH, BENCH_IFACE, "Quit", &error, NULL, NULL);
        if (ret < 0)
                bench_fail("Quit: %s", error.message ? error.message : strerror(-ret));
        sd_bus_error_free(&error);
        child_stop(&server);
}

static void bus_daemon_stop(struct bus_daemon *d) {
        bool in_time;

        d->controller = sd_bus_flush_close_unref(d->controller);
        if (d->pid <= 0)
                return;
        kill(d->pid, SIGTERM);
        bench_reap(d->pid, 2000, &in_time);
        d->pid = 0;
}

/* Child side: exec a bus daemon with fd inherited. */
static _Noreturn void exec_bus(int fd, const char *const argv[]) {
        int flags = fcntl(fd, F_GETFD);

        if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
                _exit(127);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "xnsbench: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
}

/* Reaps a bus daemon that failed to start (killing it after 500 ms) and
 * says how it ended, for a skip reason. */
static void describe_exit(pid_t pid, char *buf, size_t size) {
        bool in_time;
        int status = bench_reap(pid, 500, &in_time);

        if (in_time)
                describe_status(buf, size, status);
        else
                snprintf(buf, size, "stopped answering");
}

/* --- dbus_daemon ---------------------------------------------------------- */

static int write_dbus_daemon_config(const char *path, const char *sock) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        char text[1024];
        int n;

        if (fd < 0)
                return -errno;
        n = snprintf(text, sizeof(text),
                     "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                     " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                     "<busconfig>\n"
                     "  <type>session</type>\n"
                     "  <listen>unix:path=%s</listen>\n"
                     "  <auth>EXTERNAL</auth>\n"
                     "  <policy context=\"default\">\n"
                     "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                     "    <allow eavesdrop=\"true\"/>\n"
                     "    <allow own=\"*\"/>\n"
                     "  </policy>\n"
                     "</busconfig>\n", sock);
        return write_full(fd, text, (size_t)n);
}

/* Reads dbus-daemon's address line from fd; false when it did not come. */
static bool read_address(int fd, char *buf, size_t size) {
        size_t got = 0;

        while (got < size - 1) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&pfd, 1, BUS_START_MS) <= 0)
                        return false;
                n = read(fd, buf + got, size - 1 - got);
                if (n <= 0)
                        return false;
                got += (size_t)n;
                buf[got] = 0;
                if (strchr(buf, '\n')) {
                        *strchr(buf, '\n') = 0;
                        return true;
                }
        }
        return false;
}

static bool dbus_daemon_start(struct bus_daemon *d, char *why, size_t why_size) {
        const char *exe = find_exe("dbus-daemon", "/usr/bin/dbus-daemon");
        char conf[128], sock[128], conf_arg[160], fd_arg[32];
        _cleanup_close_ int rd = -1;
        int p[2], r;
        pid_t pid;

        if (!exe) {
                snprintf(why, why_size, "dbus-daemon is not installed (contrib/deps.sh installs it)");
                return false;
        }
        bench_path(conf, sizeof(conf), "dbus-daemon.conf");
        bench_path(sock, sizeof(sock), "dbus-daemon.sock");
        r = write_dbus_daemon_config(conf, sock);
        if (r < 0)
                bench_fail("write %s: %s", conf, strerror(-r));
        if (pipe2(p, O_CLOEXEC) < 0)
                bench_fail("pipe: %s", strerror(errno));
        snprintf(conf_arg, sizeof(conf_arg), "--config-file=%s", conf);
        snprintf(fd_arg, sizeof(fd_arg), "--print-address=%d", p[1]);
        pid = bench_fork(&p[1], 1);
        if (pid < 0)
                bench_fail("fork: %s", strerror((int)-pid));
        if (pid == 0)
                exec_bus(p[1], (const char *const[]){ exe, conf_arg, "--nofork", "--nopidfile", fd_arg, NULL });
        close(p[1]);
        rd = p[0];
        d->pid = pid;
        if (!read_address(rd, d->address, sizeof(d->address))) {
                char how[100];

                describe_exit(pid, how, sizeof(how));
                snprintf(why, why_size, "dbus-daemon did not start (%s)", how);
                d->pid = 0;
                return false;
        }
        return true;
}

void case_dbus_daemon(struct result *r, long arg) {
        struct bus_daemon d = { 0 };

        if (!dbus_daemon_start(&d, r->skipped, sizeof(r->skipped)))
                return;
        measure_bus(r, &d);
        bus_daemon_stop(&d);
}

/* --- dbus_broker ----------------------------------------------------------- */

/*
 * The policy AddListener takes (dbus-broker 33, as dbus-broker-launch sends
 * it), a variant of
 *   (a(u(BATCH)) a(buu(BATCH)) a(ss) b s)
 * per-uid batches, per-gid/uid-range batches, SELinux names, AppArmor on,
 * bus type. One batch for every uid allows everything, as a session bus
 * does: connect (verdict, priority); own (verdict, priority, prefix, name);
 * send and receive (verdict, priority, name, path, interface, member, type,
 * broadcast, min fds, max fds).
 */
#define POLICY_XMIT "(btssssuutt)"
#define POLICY_BATCH "bta(btbs)a" POLICY_XMIT "a" POLICY_XMIT
#define POLICY "a(u(" POLICY_BATCH "))a(buu(" POLICY_BATCH "))a(ss)bs"

static int append_allow_all_policy(sd_bus_message *m) {
        int r;

        r = sd_bus_message_open_container(m, 'v', "(" POLICY ")");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'r', POLICY);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "a(u(" POLICY_BATCH "))", 1,
                                  (uint32_t)-1,                         /* any uid */
                                  true, UINT64_C(1),                    /* connect */
                                  1, true, UINT64_C(1), true, "",       /* own any name */
                                  1, true, UINT64_C(1), "", "", "", "", 0, 0, UINT64_C(0), UINT64_MAX,  /* send */
                                  1, true, UINT64_C(1), "", "", "", "", 0, 0, UINT64_C(0), UINT64_MAX); /* receive */
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "a(buu(" POLICY_BATCH "))a(ss)bs", 0, 0, false, "session");
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static int listen_unix(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0)
                return -errno;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* Hands dbus-broker its listening socket; an error text for a skip, or NULL. */
static const char *broker_add_listener(sd_bus *controller, int listen_fd, char *buf, size_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_message_new_method_call(controller, &m, NULL, "/org/bus1/DBus/Broker", "org.bus1.DBus.Broker",
                                           "AddListener");
        if (r >= 0)
                r = sd_bus_message_append(m, "oh", "/org/bus1/DBus/Listener/0", listen_fd);
        if (r >= 0)
                r = append_allow_all_policy(m);
        if (r >= 0)
                r = sd_bus_call(controller, m, (uint64_t)BUS_START_MS * 1000, &error, NULL);
        if (r < 0) {
                snprintf(buf, size, "%s%s%s", error.name ? error.name : strerror(-r),
                         error.message ? ": " : "", error.message ? error.message : "");
                sd_bus_error_free(&error);
                return buf;
        }
        return NULL;
}

static bool dbus_broker_start(struct bus_daemon *d, char *why, size_t why_size) {
        const char *exe = find_exe("dbus-broker", "/usr/bin/dbus-broker");
        _cleanup_close_ int listen_fd = -1;
        char sock[128], fd_arg[16], err[100];
        const char *failed;
        int ctl[2], r;
        pid_t pid;

        if (!exe) {
                snprintf(why, why_size, "dbus-broker is not installed (contrib/deps.sh installs it)");
                return false;
        }
        bench_path(sock, sizeof(sock), "dbus-broker.sock");
        listen_fd = listen_unix(sock);
        if (listen_fd < 0)
                bench_fail("listen on %s: %s", sock, strerror(-listen_fd));
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ctl) < 0)
                bench_fail("socketpair: %s", strerror(errno));
        snprintf(fd_arg, sizeof(fd_arg), "%d", ctl[1]);
        pid = bench_fork(&ctl[1], 1);
        if (pid < 0)
                bench_fail("fork: %s", strerror((int)-pid));
        if (pid == 0)
                exec_bus(ctl[1], (const char *const[]){ exe, "--controller", fd_arg, "--machine-id",
                                                         "0123456789abcdef0123456789abcdef", NULL });
        close(ctl[1]);
        d->pid = pid;

        r = sd_bus_new(&d->controller);
        if (r >= 0)
                r = sd_bus_set_fd(d->controller, ctl[0], ctl[0]);
        else
                close(ctl[0]);
        if (r >= 0)
                r = sd_bus_start(d->controller);
        failed = r < 0 ? strerror(-r) : broker_add_listener(d->controller, listen_fd, err, sizeof(err));
        if (failed) {
                char how[48];

                d->controller = sd_bus_flush_close_unref(d->controller);
                describe_exit(pid, how, sizeof(how));
                snprintf(why, why_size, "dbus-broker did not take its listener: %s (broker %s)", failed, how);
                d->pid = 0;
                return false;
        }
        snprintf(d->address, sizeof(d->address), "unix:path=%s", sock);
        return true;
}

void case_dbus_broker(struct result *r, long arg) {
        struct bus_daemon d = { 0 };

        if (!dbus_broker_start(&d, r->skipped, sizeof(r->skipped)))
                return;
        measure_bus(r, &d);
        bus_daemon_stop(&d);
}
