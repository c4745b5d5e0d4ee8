/* test-systemd.c: xnsd under a service manager, with no systemd as PID 1:
 * socket activation (by systemd-socket-activate, and by hand through
 * LISTEN_FDS) and the sd_notify protocol on a NOTIFY_SOCKET of the test's;
 * and xnsd's start-up, stopped at chosen points (stop-at.c): when its socket
 * appears, and a SIGTERM that comes before its loop runs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "harness.h"
#include "test-util.h"

#define START_TIMEOUT_MS 5000           /* xnsd serving, or exiting on a bad socket */
#define STOP_TIMEOUT_MS 5000            /* xnsd gone after SIGTERM */
#define WATCHDOG_USEC "200000"          /* so WATCHDOG=1 every 100 ms */

/* One private directory per test, made and removed by the runner (so it goes
 * even when the test fails); xnsd is started by the test itself. */
static struct {
        char dir[64];
        char sock[128];                 /* the xns socket; also $XOUS_SOCKET */
        char notify[128];               /* the NOTIFY_SOCKET */
        char log[128];                  /* xnsd's stderr */
} t;

static void dir_setup(void) {
        snprintf(t.dir, sizeof(t.dir), "/tmp/xns-test-sd-XXXXXX");
        if (!mkdtemp(t.dir))
                ck_abort_msg("mkdtemp: %s", strerror(errno));
        snprintf(t.sock, sizeof(t.sock), "%s/xns.sock", t.dir);
        snprintf(t.notify, sizeof(t.notify), "%s/notify", t.dir);
        snprintf(t.log, sizeof(t.log), "%s/xnsd.log", t.dir);
        setenv("XOUS_SOCKET", t.sock, 1);
}

/* Check killed the test's process group; what it orphaned was reparented
 * here (we are a subreaper): reap it, then remove the directory. */
static void dir_teardown(void) {
        uint64_t deadline = now_ms() + 2000;
        struct dirent *de;
        DIR *d;

        for (;;) {
                pid_t r = waitpid(-1, NULL, WNOHANG);

                if (r > 0)
                        continue;
                if (r < 0 || now_ms() > deadline)
                        break;          /* none left, or one that will not die */
                sleep_ms(5);
        }
        d = opendir(t.dir);
        while (d && (de = readdir(d))) {
                char path[400];

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", t.dir, de->d_name);
                unlink(path);
        }
        if (d)
                closedir(d);
        rmdir(t.dir);
        unsetenv("XOUS_SOCKET");
}

/* --- starting and stopping xnsd ------------------------------------------ */

/* What to hand the child: descriptors to inherit as 3, 4, ... (socket
 * activation by hand), and environment to add. */
struct spawn {
        const int *fds;
        int n_fds;
        const char *const *env;         /* "NAME=VALUE", NULL-terminated; "WATCHDOG_PID=self" means ours */
};

/* Puts fds at 3, 4, ... for the program to inherit: first all above any
 * target, so none is overwritten before it moved, then into place (dup2
 * clears close-on-exec). */
static void child_pass_fds(const int *fds, int n) {
        int high[8];

        if (n > 8)
                _exit(126);
        for (int i = 0; i < n; i++)
                if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 100)) < 0)
                        _exit(126);
        for (int i = 0; i < n; i++)
                if (dup2(high[i], 3 + i) < 0)
                        _exit(126);
}

static void child_exec(char *const argv[], const struct spawn *sp) {
        int log = open(t.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        char pid[16];

        if (log < 0 || dup2(log, STDERR_FILENO) < 0)
                _exit(126);
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        if (sp && sp->n_fds) {
                char n[16];

                child_pass_fds(sp->fds, sp->n_fds);
                snprintf(n, sizeof(n), "%d", sp->n_fds);
                setenv("LISTEN_FDS", n, 1);
                setenv("LISTEN_PID", pid, 1);   /* exec keeps the pid: it is xnsd's */
        }
        for (int i = 0; sp && sp->env && sp->env[i]; i++) {
                if (!strcmp(sp->env[i], "WATCHDOG_PID=self"))
                        setenv("WATCHDOG_PID", pid, 1);
                else
                        putenv((char *)sp->env[i]);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
}

static pid_t spawn(char *const argv[], const struct spawn *sp) {
        pid_t pid;

        fflush(NULL);
        pid = fork();
        EXPECT_MSG(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0)
                child_exec(argv, sp);
        return pid;
}

static const char *xnsd_path(void) {
        const char *p = getenv("XNSD");

        EXPECT_MSG(p, "XNSD is not set (tests/meson.build sets it)");
        return p;
}

/* xnsd's log, for failure messages. */
static const char *xnsd_log(void) {
        static char buf[2048];
        ssize_t n = 0;
        int fd = open(t.log, O_RDONLY | O_CLOEXEC);

        if (fd >= 0) {
                n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
        }
        buf[n > 0 ? n : 0] = 0;
        return buf;
}

/* Waits up to timeout_ms for pid to exit; true and *status if it did. */
static bool wait_exit(pid_t pid, int timeout_ms, int *status) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

        while (now_ms() < deadline) {
                if (waitpid(pid, status, WNOHANG) == pid)
                        return true;
                sleep_ms(5);
        }
        return false;
}

static void expect_exit(pid_t pid, int timeout_ms, int code, const char *what) {
        int status = 0;

        if (!wait_exit(pid, timeout_ms, &status)) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                harness_fail_at(__FILE__, __LINE__, "%s: xnsd still running after %d ms, want exit %d; its log:\n%s",
                                what, timeout_ms, code, xnsd_log());
        }
        EXPECT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == code,
                   "%s: xnsd ended with status 0x%x, want exit %d; its log:\n%s", what, status, code, xnsd_log());
}

/* SIGTERM (or sig) and a clean exit 0 within STOP_TIMEOUT_MS. */
static void stop_xnsd(pid_t pid, int sig) {
        EXPECT(kill(pid, sig) == 0);
        expect_exit(pid, STOP_TIMEOUT_MS, 0, sig == SIGTERM ? "on SIGTERM" : "on SIGINT");
}

/* True once pid runs the program named comm (the exec happened). */
static bool runs(pid_t pid, const char *comm) {
        char path[64], buf[32] = "";
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        if (!fgets(buf, sizeof(buf), f))
                buf[0] = 0;
        fclose(f);
        buf[strcspn(buf, "\n")] = 0;
        return strcmp(buf, comm) == 0;
}

static bool is_socket(const char *path) {
        struct stat st;

        return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Waits until pid (xnsd, or systemd-socket-activate, which execs xnsd on
 * the first connection) has a socket that accepts, then has a request
 * answered: the process must then be xnsd. The socket file may exist before
 * it listens (systemd-socket-activate binds, then listens), so only a
 * connect that succeeds counts. A call on a socket no one will serve fails
 * once the process exits; one that hangs fails the test by its timeout. */
static void wait_serving(pid_t pid) {
        uint64_t deadline = now_ms() + START_TIMEOUT_MS;
        xous_sid_t sid;
        int status;

        while (!socket_accepts(t.sock)) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        harness_fail_at(__FILE__, __LINE__, "exited (status 0x%x) before %s accepted; log:\n%s",
                                        status, t.sock, xnsd_log());
                EXPECT_MSG(now_ms() < deadline, "%s did not accept within %d ms; log:\n%s", t.sock,
                           START_TIMEOUT_MS, xnsd_log());
                sleep_ms(5);
        }
        EXPECT_OK(xous_create_server(&sid));
        EXPECT_OK(xous_destroy_server(sid));
        EXPECT_MSG(runs(pid, "xnsd"), "pid %d answers but is not xnsd", (int)pid);
}

/* An echo server process (harness.c) serves a call made here through the
 * daemon: the whole path, name lookup included, works. */
static void expect_round_trip(void) {
        xous_scalar_reply_t reply = { 0 };
        struct proc server;
        xous_cid_t cid;

        proc_start(&server, "echo", echo_server, "sd-echo");
        proc_recv_sid(&server);
        cid = connect_name("sd-echo");
        EXPECT_OK(xous_blocking_scalar(cid, 1, 41, 0, 0, 0, &reply));
        EXPECT_EQ(reply.count, 1);
        EXPECT_EQ(reply.v[0], 42);
        echo_stop(&server, cid);
}

/* --- systemd-socket-activate --------------------------------------------- */

START_TEST(activation_serves_clients) {
        char *argv[] = { "systemd-socket-activate", "--seqpacket", "-l", t.sock, (char *)xnsd_path(), NULL };
        pid_t pid = spawn(argv, NULL);

        wait_serving(pid);
        expect_round_trip();
        stop_xnsd(pid, SIGTERM);
}
END_TEST

/* The inherited socket wins over --socket, and stays when xnsd exits: it
 * is the service manager's. */
START_TEST(activation_keeps_the_managers_socket) {
        char other[160];
        char *argv[] = { "systemd-socket-activate", "--seqpacket", "-l", t.sock, (char *)xnsd_path(),
                         "--socket", other, NULL };
        pid_t pid;

        snprintf(other, sizeof(other), "%s/other.sock", t.dir);
        pid = spawn(argv, NULL);
        wait_serving(pid);
        EXPECT_MSG(access(other, F_OK) < 0 && errno == ENOENT, "xnsd bound --socket %s although it inherited one",
                   other);
        stop_xnsd(pid, SIGTERM);
        EXPECT_MSG(is_socket(t.sock), "xnsd removed the inherited socket %s at exit", t.sock);
}
END_TEST

/* --- LISTEN_FDS by hand ---------------------------------------------------- */

static int unix_socket(int type, const char *path, bool listening) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

        EXPECT(fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        EXPECT_MSG(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", path, strerror(errno));
        EXPECT(!listening || listen(fd, 16) == 0);
        return fd;
}

static pid_t spawn_activated(const int *fds, int n_fds) {
        char *argv[] = { (char *)xnsd_path(), NULL };
        struct spawn sp = { .fds = fds, .n_fds = n_fds };

        return spawn(argv, &sp);
}

START_TEST(listen_fds_serves_clients) {
        int fd = unix_socket(SOCK_SEQPACKET, t.sock, true);
        pid_t pid = spawn_activated(&fd, 1);

        close(fd);
        wait_serving(pid);
        expect_round_trip();
        stop_xnsd(pid, SIGTERM);
        EXPECT_MSG(is_socket(t.sock), "xnsd removed the inherited socket %s at exit", t.sock);
}
END_TEST

/* A socket xnsd cannot serve is an error, exit 1, with a word in the log.
 * ($XOUS_SOCKET points to a free path: an xnsd that ignored LISTEN_FDS
 * would bind it and run, and fail this test by not exiting.) */
static void expect_refused(const int *fds, int n_fds, const char *what) {
        pid_t pid = spawn_activated(fds, n_fds);
        struct stat st;

        for (int i = 0; i < n_fds; i++)
                close(fds[i]);
        expect_exit(pid, START_TIMEOUT_MS, 1, what);
        EXPECT_MSG(stat(t.log, &st) == 0 && st.st_size > 0, "%s: xnsd exited 1 without saying why", what);
}

START_TEST(listen_fds_rejects_a_stream_socket) {
        char path[160];
        int fd;

        snprintf(path, sizeof(path), "%s/stream.sock", t.dir);
        fd = unix_socket(SOCK_STREAM, path, true);
        expect_refused(&fd, 1, "a SOCK_STREAM socket");
}
END_TEST

START_TEST(listen_fds_rejects_a_socket_not_listening) {
        char path[160];
        int fd;

        snprintf(path, sizeof(path), "%s/idle.sock", t.dir);
        fd = unix_socket(SOCK_SEQPACKET, path, false);
        expect_refused(&fd, 1, "a socket not listening");
}
END_TEST

START_TEST(listen_fds_rejects_two_sockets) {
        char a[160], b[160];
        int fds[2];

        snprintf(a, sizeof(a), "%s/a.sock", t.dir);
        snprintf(b, sizeof(b), "%s/b.sock", t.dir);
        fds[0] = unix_socket(SOCK_SEQPACKET, a, true);
        fds[1] = unix_socket(SOCK_SEQPACKET, b, true);
        expect_refused(fds, 2, "two sockets");
}
END_TEST

/* --- sd_notify --------------------------------------------------------------- */

/* What arrived on the NOTIFY_SOCKET so far. */
struct notes {
        int fd;
        bool ready, stopping;
        unsigned watchdogs;
        unsigned statuses;
        char status[256];               /* the latest STATUS= text */
        char all[2048];                 /* everything, for failure messages */
};

static void notes_open(struct notes *n) {
        *n = (struct notes){ .fd = unix_socket(SOCK_DGRAM, t.notify, false) };
}

static void notes_add_line(struct notes *n, const char *line) {
        if (!strcmp(line, "READY=1"))
                n->ready = true;
        else if (!strcmp(line, "STOPPING=1"))
                n->stopping = true;
        else if (!strcmp(line, "WATCHDOG=1"))
                n->watchdogs++;
        else if (!strncmp(line, "STATUS=", 7)) {
                n->statuses++;
                snprintf(n->status, sizeof(n->status), "%s", line + 7);
        }
        if (strlen(n->all) + strlen(line) + 4 < sizeof(n->all)) {
                strcat(n->all, line);
                strcat(n->all, " | ");
        }
}

/* Reads datagrams for up to timeout_ms, or until done(n) holds. */
static bool notes_read_until(struct notes *n, int timeout_ms, bool (*done)(const struct notes *n)) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

        while (!(done && done(n))) {
                int64_t left = (int64_t)deadline - (int64_t)now_ms();
                struct pollfd p = { .fd = n->fd, .events = POLLIN };
                char buf[1024], *line, *save = NULL;
                ssize_t len;

                if (left <= 0)
                        return false;
                if (poll(&p, 1, (int)left) <= 0)
                        continue;
                len = recv(n->fd, buf, sizeof(buf) - 1, 0);
                if (len <= 0)
                        continue;
                buf[len] = 0;
                for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                        notes_add_line(n, line);
        }
        return true;
}

static bool is_ready_with_status(const struct notes *n) {
        return n->ready && n->statuses > 0;
}

static bool is_stopping(const struct notes *n) {
        return n->stopping;
}

/* The number just before " word" in a STATUS text ("3 names, ..."). */
static bool status_count(const char *status, const char *word, unsigned *out) {
        const char *w = strstr(status, word);
        const char *p;

        if (!w || w == status || w[-1] != ' ')
                return false;
        p = w - 1;
        while (p > status && p[-1] >= '0' && p[-1] <= '9')
                p--;
        if (p == w - 1)
                return false;
        *out = (unsigned)strtoul(p, NULL, 10);
        return true;
}

/* "<n> names, <n> processes, <n> pending calls" */
static void expect_status_counts(const struct notes *n, unsigned *names, unsigned *processes) {
        unsigned pending;

        EXPECT_MSG(status_count(n->status, "name", names) && status_count(n->status, "process", processes) &&
                   status_count(n->status, "pending call", &pending),
                   "STATUS='%s' is not '<n> names, <n> processes, <n> pending calls'", n->status);
}

static bool has_one_name(const struct notes *n) {
        unsigned names = 0;

        return status_count(n->status, "name", &names) && names == 1;
}

static pid_t spawn_notified(const char *watchdog_pid) {
        char *argv[] = { (char *)xnsd_path(), "--socket", t.sock, NULL };
        static char notify_env[160], pid_env[48];
        const char *env[] = { notify_env, "WATCHDOG_USEC=" WATCHDOG_USEC, pid_env, NULL };
        struct spawn sp = { .env = env };

        snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", t.notify);
        snprintf(pid_env, sizeof(pid_env), "WATCHDOG_PID=%s", watchdog_pid);
        return spawn(argv, &sp);
}

START_TEST(notify_ready_status_watchdog_stopping) {
        unsigned names = 99, processes = 99, watchdogs;
        struct notes n;
        xous_sid_t sid;
        pid_t pid;

        notes_open(&n);
        pid = spawn_notified("self");
        EXPECT_MSG(notes_read_until(&n, START_TIMEOUT_MS, is_ready_with_status),
                   "no READY=1 with a STATUS= within %d ms; got: %s; log:\n%s", START_TIMEOUT_MS, n.all, xnsd_log());
        expect_status_counts(&n, &names, &processes);
        EXPECT_MSG(names == 0, "STATUS='%s' before any name was registered", n.status);

        /* WATCHDOG_USEC=200000: every 100 ms, so about 10 in a second. */
        watchdogs = n.watchdogs;
        notes_read_until(&n, 1000, NULL);
        EXPECT_MSG(n.watchdogs - watchdogs >= 2, "%u WATCHDOG=1 in 1 s with WATCHDOG_USEC=%s; got: %s",
                   n.watchdogs - watchdogs, WATCHDOG_USEC, n.all);

        /* The counts follow the daemon's state, within about a second. */
        EXPECT_OK(xous_register_name("sd-notify", 0, &sid));
        EXPECT_MSG(notes_read_until(&n, 3000, has_one_name), "no STATUS= with 1 name within 3 s; got: %s", n.all);
        expect_status_counts(&n, &names, &processes);
        EXPECT_MSG(processes >= 1, "STATUS='%s' while this process is connected", n.status);

        EXPECT(kill(pid, SIGTERM) == 0);
        EXPECT_MSG(notes_read_until(&n, STOP_TIMEOUT_MS, is_stopping), "no STOPPING=1 after SIGTERM; got: %s",
                   n.all);
        expect_exit(pid, STOP_TIMEOUT_MS, 0, "on SIGTERM");
        close(n.fd);
}
END_TEST

/* The watchdog is another process's (WATCHDOG_PID): xnsd must not feed it.
 * SIGINT stops it like SIGTERM. */
START_TEST(notify_watchdog_for_another_pid) {
        struct notes n;
        pid_t pid;

        notes_open(&n);
        pid = spawn_notified("1");
        EXPECT_MSG(notes_read_until(&n, START_TIMEOUT_MS, is_ready_with_status),
                   "no READY=1 with a STATUS= within %d ms; got: %s; log:\n%s", START_TIMEOUT_MS, n.all, xnsd_log());
        notes_read_until(&n, 600, NULL);
        EXPECT_MSG(n.watchdogs == 0, "%u WATCHDOG=1 although WATCHDOG_PID is not xnsd's", n.watchdogs);
        EXPECT(kill(pid, SIGINT) == 0);
        EXPECT_MSG(notes_read_until(&n, STOP_TIMEOUT_MS, is_stopping), "no STOPPING=1 after SIGINT; got: %s",
                   n.all);
        expect_exit(pid, STOP_TIMEOUT_MS, 0, "on SIGINT");
        close(n.fd);
}
END_TEST

/* --- start-up -------------------------------------------------------------- */

/* The environment that makes xnsd stop itself on entering function. */
static const char *const *stop_at_env(const char *function) {
        static char preload[512], at[64], asan[512];
        static const char *env[] = { preload, at, asan, NULL };
        const char *shim = getenv("XNS_STOP_AT_SHIM");
        const char *asan_options = getenv("ASAN_OPTIONS");

        EXPECT_MSG(shim, "XNS_STOP_AT_SHIM is not set (tests/meson.build sets it)");
        snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim);
        snprintf(at, sizeof(at), "XNS_STOP_AT=%s", function);
        /* An ASan build wants its runtime first; the shim comes before it. */
        snprintf(asan, sizeof(asan), "ASAN_OPTIONS=%s%sverify_asan_link_order=0", asan_options ? asan_options : "",
                 asan_options && *asan_options ? ":" : "");
        return env;
}

/* Waits until pid has stopped itself (the shim's SIGSTOP). */
static void wait_stopped(pid_t pid) {
        uint64_t deadline = now_ms() + START_TIMEOUT_MS;
        int status = 0;

        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG | WUNTRACED);

                if (r == pid && WIFSTOPPED(status))
                        return;
                EXPECT_MSG(r == 0, "xnsd ended (status 0x%x) before it stopped in its start-up; log:\n%s", status,
                           xnsd_log());
                EXPECT_MSG(now_ms() < deadline, "xnsd did not stop in its start-up within %d ms", START_TIMEOUT_MS);
                sleep_ms(5);
        }
}

/* The errno of a connect to path; 0 when it was accepted. */
static int connect_errno(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        int e;

        EXPECT(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, strlen(path));
        e = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
        close(fd);
        return e;
}

/* Whether the test's directory holds a file whose name starts with prefix. */
static bool dir_has(const char *prefix) {
        DIR *d = opendir(t.dir);
        struct dirent *de;
        bool found = false;

        EXPECT_MSG(d, "opendir %s: %s", t.dir, strerror(errno));
        while (!found && (de = readdir(d)))
                found = !strncmp(de->d_name, prefix, strlen(prefix));
        closedir(d);
        return found;
}

/* Stopped just before it listens, xnsd shows no socket at its path yet: a
 * client finds none (ENOENT) rather than one that refuses it, which the
 * library would report as UNAVAILABLE. */
START_TEST(startup_socket_appears_listening) {
        char *argv[] = { (char *)xnsd_path(), "--socket", t.sock, NULL };
        struct spawn sp = { .env = stop_at_env("listen") };
        pid_t pid = spawn(argv, &sp);
        int e;

        wait_stopped(pid);
        e = connect_errno(t.sock);
        EXPECT_MSG(e == ENOENT, "connect to %s while xnsd has not listened yet: %s, want ENOENT", t.sock,
                   e ? strerror(e) : "accepted");
        EXPECT(kill(pid, SIGCONT) == 0);
        wait_serving(pid);
        stop_xnsd(pid, SIGTERM);
        EXPECT_MSG(!dir_has("xns.sock") && !dir_has(".xnsd.tmp-"), "xnsd left its socket behind in %s", t.dir);
}
END_TEST

/* A SIGTERM that comes while xnsd starts (here: its socket accepts and its
 * event loop does not exist yet) stops it cleanly once it can, exit 0,
 * instead of killing it. */
START_TEST(startup_sigterm_before_the_loop) {
        char *argv[] = { (char *)xnsd_path(), "--socket", t.sock, NULL };
        struct spawn sp = { .env = stop_at_env("event_base_new") };
        pid_t pid = spawn(argv, &sp);

        wait_stopped(pid);
        EXPECT(kill(pid, SIGTERM) == 0);
        EXPECT(kill(pid, SIGCONT) == 0);
        expect_exit(pid, STOP_TIMEOUT_MS, 0, "on SIGTERM while starting");
        EXPECT_MSG(!dir_has("xns.sock") && !dir_has(".xnsd.tmp-"), "xnsd left its socket behind in %s", t.dir);
}
END_TEST

/* The same with an inherited socket, which accepts clients before xnsd even
 * runs. */
START_TEST(startup_sigterm_before_the_loop_activated) {
        int fd = unix_socket(SOCK_SEQPACKET, t.sock, true);
        struct spawn sp = { .fds = &fd, .n_fds = 1, .env = stop_at_env("event_base_new") };
        char *argv[] = { (char *)xnsd_path(), NULL };
        pid_t pid = spawn(argv, &sp);

        close(fd);
        wait_stopped(pid);
        EXPECT_MSG(connect_errno(t.sock) == 0, "the inherited socket does not accept");
        EXPECT(kill(pid, SIGINT) == 0);
        EXPECT(kill(pid, SIGCONT) == 0);
        expect_exit(pid, STOP_TIMEOUT_MS, 0, "on SIGINT while starting");
        EXPECT_MSG(is_socket(t.sock), "xnsd removed the inherited socket %s at exit", t.sock);
}
END_TEST

/* A socket file no one listens on (a dead xnsd's) is replaced; the path of
 * a running xnsd is not taken over: a second xnsd there exits 1. */
START_TEST(startup_replaces_stale_refuses_running) {
        char *argv[] = { (char *)xnsd_path(), "--socket", t.sock, NULL };
        pid_t pid, second;

        close(unix_socket(SOCK_SEQPACKET, t.sock, false));
        EXPECT_EQ(connect_errno(t.sock), ECONNREFUSED);
        pid = spawn(argv, NULL);
        wait_serving(pid);
        second = spawn(argv, NULL);
        expect_exit(second, START_TIMEOUT_MS, 1, "a second xnsd on the same path");
        EXPECT_MSG(strstr(xnsd_log(), "another xnsd is running there"), "the second xnsd did not say why; log:\n%s",
                   xnsd_log());
        EXPECT_MSG(daemon_answers(t.sock, START_TIMEOUT_MS) == 1, "the first xnsd no longer answers on %s", t.sock);
        stop_xnsd(pid, SIGTERM);
        EXPECT_MSG(!dir_has("xns.sock") && !dir_has(".xnsd.tmp-"), "xnsd left files behind in %s", t.dir);
}
END_TEST

/* --- the runner ---------------------------------------------------------- */

static void add(Suite *s, const TTest *test) {
        add_fixture_test(s, test, dir_setup, dir_teardown, HARNESS_TEST_TIMEOUT_S);
}

static bool in_path(const char *prog) {
        const char *path = getenv("PATH");
        char buf[4096];

        for (const char *p = path; p && *p;) {
                size_t len = strcspn(p, ":");

                snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, p, prog);
                if (access(buf, X_OK) == 0)
                        return true;
                p += len + (p[len] == ':');
        }
        return false;
}

int main(void) {
        const char *only = getenv("CK_RUN_SUITE");
        bool activate = in_path("systemd-socket-activate");
        Suite *listen_fds = suite_create("listen-fds");
        Suite *notify = suite_create("notify");
        Suite *startup = suite_create("startup");
        SRunner *sr;
        int failed;

        if (!activate) {
                printf("systemd-socket-activate is not installed (Debian package systemd): "
                       "not testing activation by it\n");
                if (only && !strcmp(only, "activation"))
                        return 77;
        }
        add(listen_fds, listen_fds_serves_clients);
        add(listen_fds, listen_fds_rejects_a_stream_socket);
        add(listen_fds, listen_fds_rejects_a_socket_not_listening);
        add(listen_fds, listen_fds_rejects_two_sockets);
        add(notify, notify_ready_status_watchdog_stopping);
        add(notify, notify_watchdog_for_another_pid);
        add(startup, startup_socket_appears_listening);
        add(startup, startup_sigterm_before_the_loop);
        add(startup, startup_sigterm_before_the_loop_activated);
        add(startup, startup_replaces_stale_refuses_running);

        /* Orphans of a failed test (Check kills its process group) come here. */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        sr = srunner_create(listen_fds);
        srunner_add_suite(sr, notify);
        srunner_add_suite(sr, startup);
        if (activate) {
                Suite *activation = suite_create("activation");

                add(activation, activation_serves_clients);
                add(activation, activation_keeps_the_managers_socket);
                srunner_add_suite(sr, activation);
        }
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
