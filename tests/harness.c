/* harness.c: a private xnsd per test, child processes with a channel to the
 * test, and assertions that also work in those children. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.pb-c.h"
#include "daemon.h"
#include "harness.h"
#include "test-util.h"
#include "wire.h"

#define CHILD_FAILED 99                 /* exit code of a child whose assertion failed */
#define DAEMON_STOP_MS 10000            /* SIGTERM to exit: room for valgrind's leak check */

static struct test_daemon daemon_ = TEST_DAEMON_INIT;

static bool daemon_killed;              /* the test killed xnsd on purpose */
static bool daemon_restarted;           /* the test started the xnsd now running */
static unsigned daemon_failures;        /* runner: daemons that ended badly at teardown */
static struct proc *live_procs[32];     /* the test's children, for failure reports */
static int child_err_fd = -1;           /* set in a child: where its failure text goes */
static int child_chan = -1;             /* set in a child: channel to the parent */

const char *harness_errname(xous_error_t e) {
        static __thread char bufs[4][40];
        static __thread unsigned next;
        char *buf = bufs[next++ % 4];

        if (xns_error_name(e)) {
                snprintf(buf, sizeof(bufs[0]), "%s (%u)", xns_error_name(e), (unsigned)e);
                return buf;
        }
        snprintf(buf, sizeof(bufs[0]), "unknown error %u", (unsigned)e);
        return buf;
}

void harness_mark(const char *file, int line) {
        if (child_err_fd < 0 && gettid() == getpid())
                _mark_point(file, line);
}

void harness_fail_at(const char *file, int line, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (child_err_fd >= 0) {
                char text[1200];
                int n = snprintf(text, sizeof(text), "%s:%d: %s", file, line, msg);

                fprintf(stderr, "[child %d] %s\n", (int)getpid(), text);
                if (n > 0 && write(child_err_fd, text, (size_t)n) < 0)
                        fprintf(stderr, "[child %d] cannot report failure\n", (int)getpid());
                _exit(CHILD_FAILED);
        }
        /* A child that failed first usually explains this failure. */
        for (size_t i = 0; i < sizeof(live_procs) / sizeof(live_procs[0]); i++) {
                struct proc *p = live_procs[i];
                char text[600];
                ssize_t n;

                if (!p)
                        continue;
                live_procs[i] = NULL;
                n = read(p->err, text, sizeof(text) - 1);
                if (n > 0) {
                        text[n] = 0;
                        snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
                                 " [child '%s' failed first: %s]", p->name, text);
                }
        }
        _ck_assert_failed(file, line, "Failed", "%s", msg);
        abort();        /* not reached */
}

/* --- the daemon --------------------------------------------------------- */

static char daemon_log_path[128];

static void daemon_log_redirect(void) {
        int fd = open(daemon_log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

        if (fd >= 0)
                dup2(fd, STDERR_FILENO);
}

static void (*daemon_setup_hook)(void);
static bool daemon_keep_log;

/* How long xnsd may take to answer at start: under valgrind (XNSD_WRAPPER)
 * on a loaded machine it takes seconds, not milliseconds. */
static int daemon_start_ms(void) {
        const char *wrapper = getenv("XNSD_WRAPPER");

        return wrapper && *wrapper ? 30000 : 5000;
}

/* In the daemon's child, before exec. */
static void daemon_child_setup(void) {
        if (daemon_keep_log)
                daemon_log_redirect();
        if (daemon_setup_hook)
                daemon_setup_hook();
}

void harness_daemon_start_setup(const char *const *extra, bool keep_log, void (*setup)(void)) {
        const char *xnsd = getenv("XNSD");
        char why[256];

        if (!xnsd)
                ck_abort_msg("XNSD is not set (tests/meson.build sets it)");
        daemon_killed = false;
        daemon_keep_log = keep_log;
        daemon_setup_hook = setup;
        snprintf(daemon_log_path, sizeof(daemon_log_path), "/tmp/xns-test-log-%d", (int)getpid());
        unlink(daemon_log_path);
        if (test_daemon_start(&daemon_, xnsd, "/tmp/xns-test-XXXXXX", extra, daemon_child_setup,
                              daemon_start_ms(), why, sizeof(why)) < 0)
                ck_abort_msg("%s", why);
        if (!keep_log)
                daemon_log_path[0] = '\0';
        setenv("XOUS_SOCKET", daemon_.sock, 1);
}

void harness_daemon_start_args(const char *const *extra, bool keep_log) {
        harness_daemon_start_setup(extra, keep_log, NULL);
}

void harness_daemon_restart(const char *const *extra) {
        const char *xnsd = getenv("XNSD");
        char why[256];

        EXPECT_MSG(xnsd, "XNSD is not set");
        EXPECT_MSG(daemon_killed, "harness_daemon_restart before harness_daemon_kill");
        /* The old one is dead (the runner, its parent, reaps it); the new
         * one is the test's child, stopped by harness_check_after_test. */
        daemon_keep_log = false;
        daemon_setup_hook = NULL;
        EXPECT_MSG(test_daemon_spawn(&daemon_, xnsd, extra, NULL, daemon_start_ms(), why, sizeof(why)) == 0, "%s",
                   why);
        daemon_killed = false;
        daemon_restarted = true;
}

char *harness_daemon_log(void) {
        char *buf = calloc(1, 65536);
        int fd;

        EXPECT(buf);
        if (!daemon_log_path[0])
                return buf;
        fd = open(daemon_log_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                ssize_t n = read(fd, buf, 65535);

                buf[n > 0 ? n : 0] = '\0';
                close(fd);
        }
        return buf;
}

static unsigned log_lines_now(const char *needle, const char *needle2) {
        char *log = harness_daemon_log(), *line, *save = NULL;
        unsigned n = 0;

        for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (strstr(line, needle) && (!needle2 || strstr(line, needle2)))
                        n++;
        free(log);
        return n;
}

unsigned harness_daemon_log_lines(const char *needle, const char *needle2, int timeout_ms) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
        unsigned n;

        while ((n = log_lines_now(needle, needle2)) == 0 && now_ms() < deadline)
                sleep_ms(10);
        return n;
}

void harness_daemon_start(unsigned queue_depth) {
        const char *xnsd = getenv("XNSD");
        const char *extra[] = { "--queue-depth", NULL, NULL };
        char depth[16], why[256];

        if (!xnsd)
                ck_abort_msg("XNSD is not set (tests/meson.build sets it)");
        snprintf(depth, sizeof(depth), "%u", queue_depth);
        extra[1] = depth;
        daemon_killed = false;
        if (test_daemon_start(&daemon_, xnsd, "/tmp/xns-test-XXXXXX", queue_depth ? extra : NULL,
                              NULL, daemon_start_ms(), why, sizeof(why)) < 0)
                ck_abort_msg("%s", why);
        setenv("XOUS_SOCKET", daemon_.sock, 1);
}

/* --- what xnsd shows ---------------------------------------------------- */

/* Asks xnsd for a control snapshot (what: XNS_CONTROL_*; name for SHOW) on a
 * link of its own, as xnsctl does. NULL when SHOW names no server. */
static Xns__Snapshot *daemon_snapshot(uint32_t what, const char *name) {
        struct xns_request req = { .seq = 1, .op = XNS_OP_CONTROL, .control = { .what = what } };
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_reply reply;
        Xns__Snapshot *snap;
        struct stat st;
        int fd = raw_connect(), mfd = -1;
        void *map;
        ssize_t n;

        if (name) {
                req.control.n_names = 1;
                req.control.names[0].len = strlen(name);
                snprintf(req.control.names[0].str, sizeof(req.control.names[0].str), "%s", name);
        }
        n = xns_request_encode(&req, buf, sizeof(buf));
        EXPECT_MSG(n > 0, "xns_request_encode: %zd", n);
        EXPECT_MSG(xns_frame_send(fd, buf, (size_t)n, -1, false) == 0, "cannot ask xnsd for a snapshot");
        EXPECT_MSG(poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, HARNESS_WAIT_MS) == 1,
                   "xnsd sent no snapshot within %d ms", HARNESS_WAIT_MS);
        n = xns_frame_recv(fd, buf, sizeof(buf), &mfd, false);
        close(fd);
        EXPECT_MSG(n > 0 && xns_reply_decode(&reply, buf, (size_t)n) == 0, "xnsd's answer to a snapshot: %zd", n);
        if (reply.error == XOUS_ERR_SERVER_NOT_FOUND && name) {
                if (mfd >= 0)
                        close(mfd);
                return NULL;
        }
        EXPECT_MSG(reply.error == XOUS_OK && reply.body == XNS_BODY_SNAPSHOT && mfd >= 0 &&
                   fstat(mfd, &st) == 0 && st.st_size >= (off_t)reply.snapshot && reply.snapshot > 0,
                   "xnsd sent no usable snapshot (%s)", harness_errname(reply.error));
        map = mmap(NULL, reply.snapshot, PROT_READ, MAP_PRIVATE, mfd, 0);
        close(mfd);
        EXPECT_MSG(map != MAP_FAILED, "mmap of the snapshot: %s", strerror(errno));
        snap = xns__snapshot__unpack(NULL, reply.snapshot, map);
        munmap(map, reply.snapshot);
        EXPECT_MSG(snap && snap->status, "xnsd sent a malformed snapshot");
        return snap;
}

/* The NameInfo of a SHOW snapshot, NULL in a NULL snapshot. */
static Xns__NameInfo *snapshot_name(Xns__Snapshot *snap) {
        if (!snap)
                return NULL;
        EXPECT_MSG(snap->n_names == 1, "a snapshot of one name holds %zu", snap->n_names);
        return snap->names[0];
}

struct harness_name_state harness_name_state(const char *name) {
        Xns__Snapshot *snap = daemon_snapshot(XNS_CONTROL_SHOW, name);
        Xns__NameInfo *info = snapshot_name(snap);
        struct harness_name_state st = { 0 };

        if (info)
                st = (struct harness_name_state){ .registered = true, .queued = info->queued,
                                                  .stalled = info->stalled, .receivers = info->receivers };
        if (snap)
                xns__snapshot__free_unpacked(snap, NULL);
        return st;
}

bool harness_name_has_client(const char *name, pid_t pid) {
        Xns__Snapshot *snap = daemon_snapshot(XNS_CONTROL_SHOW, name);
        Xns__NameInfo *info = snapshot_name(snap);
        bool found = false;

        for (size_t i = 0; info && i < info->n_clients; i++)
                found |= info->clients[i] == (uint32_t)pid;
        if (snap)
                xns__snapshot__free_unpacked(snap, NULL);
        return found;
}

unsigned harness_pending_calls(void) {
        Xns__Snapshot *snap = daemon_snapshot(XNS_CONTROL_STATUS, NULL);
        unsigned n = snap->status->pending_calls;

        xns__snapshot__free_unpacked(snap, NULL);
        return n;
}

static bool daemon_has_peer(pid_t pid) {
        Xns__Snapshot *snap = daemon_snapshot(XNS_CONTROL_PEERS, NULL);
        bool found = false;

        for (size_t i = 0; i < snap->n_peers; i++)
                found |= snap->peers[i]->pid == (uint32_t)pid;
        xns__snapshot__free_unpacked(snap, NULL);
        return found;
}

void harness_wait_name(const char *name, unsigned queued, unsigned stalled, unsigned receivers) {
        uint64_t deadline = now_ms() + HARNESS_WAIT_MS;
        struct harness_name_state st;

        while (st = harness_name_state(name), st.queued < queued || st.stalled < stalled || st.receivers < receivers) {
                EXPECT_MSG(now_ms() < deadline,
                           "'%s' (%s) never showed %u queued, %u stalled, %u receivers: last %u, %u, %u", name,
                           st.registered ? "registered" : "not registered", queued, stalled, receivers,
                           st.queued, st.stalled, st.receivers);
                sleep_ms(2);
        }
}

void harness_wait_pending_calls(unsigned n) {
        uint64_t deadline = now_ms() + HARNESS_WAIT_MS;
        unsigned got;

        while ((got = harness_pending_calls()) != n) {
                EXPECT_MSG(now_ms() < deadline, "xnsd never showed %u pending calls: last %u", n, got);
                sleep_ms(2);
        }
}

void harness_wait_peer_gone(pid_t pid) {
        uint64_t deadline = now_ms() + HARNESS_WAIT_MS;

        while (daemon_has_peer(pid)) {
                EXPECT_MSG(now_ms() < deadline, "xnsd still shows process %d", (int)pid);
                sleep_ms(2);
        }
}

/* Kills and reaps every remaining child of this process (the runner is a
 * subreaper, so orphans of a killed test land here). */
static void reap_all_children(void) {
        uint64_t deadline = now_ms() + 5000;
        int status;

        for (;;) {
                pid_t r = waitpid(-1, &status, WNOHANG);
                DIR *dir;
                struct dirent *de;

                if (r > 0)
                        continue;
                if (r < 0 && errno == ECHILD)
                        return;
                if (now_ms() > deadline) {
                        fprintf(stderr, "harness: children left after 5 s\n");
                        return;
                }
                /* Live children remain: kill them. */
                dir = opendir("/proc");
                while (dir && (de = readdir(dir))) {
                        char path[300], buf[512], *p;
                        FILE *f;
                        int ppid = 0;

                        if (de->d_name[0] < '0' || de->d_name[0] > '9')
                                continue;
                        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
                        f = fopen(path, "re");
                        if (!f)
                                continue;
                        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
                            sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == getpid())
                                kill(atoi(de->d_name), SIGKILL);
                        fclose(f);
                }
                if (dir)
                        closedir(dir);
                sleep_ms(5);
        }
}

/* How xnsd ended is a failure unless it exited 0 or was SIGKILLed (on
 * purpose, by a test): a sanitizer or valgrind report exits non-zero. */
static bool daemon_ended_badly(int status) {
        if (WIFSIGNALED(status))
                return WTERMSIG(status) != SIGKILL;
        return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

void harness_daemon_stop(void) {
        char why[96];
        int status;

        if (daemon_.pid > 0) {
                int r = waitpid(daemon_.pid, &status, WNOHANG);

                if (r > 0) {
                        /* Expected only in the tests that kill it. */
                        describe_status(why, sizeof(why), status);
                        fprintf(stderr, "harness: xnsd (pid %d) had %s before teardown\n", (int)daemon_.pid, why);
                        if (daemon_ended_badly(status))
                                daemon_failures++;
                }
                if (r == 0) {
                        pid_t pid = daemon_.pid;

                        r = test_daemon_stop(&daemon_, DAEMON_STOP_MS, &status);
                        if (r == 0) {
                                fprintf(stderr, "harness: xnsd (pid %d) ignored SIGTERM for %d ms, killed it\n",
                                        (int)pid, DAEMON_STOP_MS);
                                daemon_failures++;
                        } else if (r > 0 && daemon_ended_badly(status)) {
                                describe_status(why, sizeof(why), status);
                                fprintf(stderr, "harness: xnsd (pid %d) %s on SIGTERM\n", (int)pid, why);
                                daemon_failures++;
                        }
                }
                daemon_.pid = -1;
        }
        reap_all_children();
        test_daemon_remove_dir(&daemon_);
        if (daemon_log_path[0])
                unlink(daemon_log_path);
        daemon_log_path[0] = '\0';
        unsetenv("XOUS_SOCKET");
}

void harness_setup(void) {
        harness_daemon_start(0);
}

void harness_teardown(void) {
        harness_daemon_stop();
}

pid_t harness_daemon_pid(void) {
        return daemon_.pid;
}

const char *harness_socket_path(void) {
        return daemon_.sock;
}

void harness_daemon_kill(int sig) {
        uint64_t deadline = now_ms() + 5000;
        char s;

        daemon_killed = true;
        EXPECT(kill(daemon_.pid, sig) == 0);
        while ((s = process_state(daemon_.pid)) && s != 'Z') {
                EXPECT_MSG(now_ms() < deadline, "xnsd still running 5 s after signal %d", sig);
                sleep_ms(2);
        }
}

/* Checked teardown, run in the test process after a test that passed: the
 * daemon must have survived, and the test must have reaped its children. */
static void harness_check_after_test(void) {
        char s;
        pid_t r;
        int status;

        if (!daemon_killed) {
                s = process_state(daemon_.pid);
                EXPECT_MSG(s && s != 'Z', "xnsd (pid %d) died during the test", (int)daemon_.pid);
        }
        if (daemon_restarted) {
                char why[96];

                status = 0;
                EXPECT_MSG(test_daemon_stop(&daemon_, DAEMON_STOP_MS, &status) == 1 && !daemon_ended_badly(status),
                           "the restarted xnsd %s", (describe_status(why, sizeof(why), status), why));
        }
        /* Check kills our process group after the test; the runner reaps. */
        r = waitpid(-1, &status, WNOHANG);
        if (r >= 0)
                ck_abort_msg("the test left child processes behind");
}

void harness_add_test(Suite *s, const TTest *t, SFun setup, SFun teardown) {
        TCase *tc = add_fixture_test(s, t, setup, teardown, HARNESS_TEST_TIMEOUT_S);

        tcase_add_checked_fixture(tc, NULL, harness_check_after_test);
}

int harness_run(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;

        /* Orphans of a test that failed (Check kills its process group) are
         * reparented here and reaped by the teardown. */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        /* The teardown runs here, in the runner, after Check judged the test:
         * a daemon that ended badly (a sanitizer or valgrind report, a crash
         * at exit) fails the suite instead. */
        if (daemon_failures > 0)
                fprintf(stderr, "harness: %u xnsd instance(s) ended badly (see above)\n", daemon_failures);
        return failed || daemon_failures ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* --- child processes ---------------------------------------------------- */

void proc_start(struct proc *p, const char *name, void (*fn)(void *arg), void *arg) {
        int chan[2], err[2];

        EXPECT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) == 0);
        EXPECT(pipe2(err, O_CLOEXEC) == 0);
        EXPECT(fcntl(err[0], F_SETFL, O_NONBLOCK) == 0);
        fflush(NULL);
        *p = (struct proc){ .name = name, .chan = chan[0], .err = err[0] };
        p->pid = fork();
        EXPECT(p->pid >= 0);
        if (p->pid == 0) {
                struct rlimit no_core = { 0, 0 };

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                setrlimit(RLIMIT_CORE, &no_core);
                close(chan[0]);
                close(err[0]);
                memset(live_procs, 0, sizeof(live_procs));
                child_chan = chan[1];
                child_err_fd = err[1];
                fn(arg);
                fflush(NULL);
                _exit(0);
        }
        close(chan[1]);
        close(err[1]);
        for (size_t i = 0; i < sizeof(live_procs) / sizeof(live_procs[0]); i++)
                if (!live_procs[i]) {
                        live_procs[i] = p;
                        break;
                }
}

static void proc_forget(struct proc *p) {
        for (size_t i = 0; i < sizeof(live_procs) / sizeof(live_procs[0]); i++)
                if (live_procs[i] == p)
                        live_procs[i] = NULL;
}

static void proc_reap(struct proc *p, int timeout_ms) {
        int r;

        if (p->reaped)
                return;
        proc_forget(p);
        r = wait_child(p->pid, &p->status, timeout_ms);
        if (r == 0) {
                kill(p->pid, SIGKILL);
                wait_child(p->pid, &p->status, 5000);
                p->reaped = true;
                close(p->chan);
                close(p->err);
                harness_fail_at(__FILE__, __LINE__, "child '%s' did not exit within %d ms", p->name, timeout_ms);
        }
        EXPECT_MSG(r > 0, "waitpid(%s): %s", p->name, strerror(errno));
        p->reaped = true;
}

/* The child's failure text and exit status, for a message. */
static void proc_describe(struct proc *p, char *buf, size_t size) {
        char why[96], text[1100] = "";
        ssize_t n;

        describe_status(why, sizeof(why), p->status);
        n = read(p->err, text, sizeof(text) - 1);
        if (n > 0)
                text[n] = 0;
        snprintf(buf, size, "child '%s' %s%s%s", p->name, why, n > 0 ? ": " : "", text);
}

/* The child closed its channel, so it is on its way out: wait for it as
 * long as it takes (the test's own timeout bounds the wait), so that its
 * failure text and exit status, the cause, make it into the message. */
static _Noreturn void proc_fail_exited(struct proc *p, const char *what) {
        char desc[1300];

        if (!p->reaped) {
                proc_forget(p);
                harness_mark(__FILE__, __LINE__);
                while (waitpid(p->pid, &p->status, 0) < 0 && errno == EINTR)
                        ;
                p->reaped = true;
        }
        proc_describe(p, desc, sizeof(desc));
        close(p->chan);
        close(p->err);
        harness_fail_at(__FILE__, __LINE__, "%s: %s", what, desc);
}

static void chan_send(int fd, const void *buf, size_t len) {
        const char *b = buf;

        while (len > 0) {
                ssize_t n = send(fd, b, len, MSG_NOSIGNAL);

                if (n < 0 && errno == EINTR)
                        continue;
                EXPECT_MSG(n > 0, "send on channel: %s", strerror(errno));
                b += n;
                len -= (size_t)n;
        }
}

/* 1: read all of len; 0: timed out before the first byte; -1: EOF. */
static int chan_recv(int fd, void *buf, size_t len, int timeout_ms) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
        char *b = buf;
        size_t got = 0;

        while (got < len) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int64_t left = (int64_t)deadline - (int64_t)now_ms();
                ssize_t n;
                int r;

                if (left < 0)
                        left = 0;
                if (got > 0 && left < 1000)
                        left = 1000;    /* the rest of a message follows at once */
                r = poll(&pfd, 1, (int)left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r == 0) {
                        EXPECT_MSG(got == 0, "partial message on channel");
                        return 0;
                }
                n = recv(fd, b + got, len - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                got += (size_t)n;
        }
        return 1;
}

void proc_send(struct proc *p, const void *buf, size_t len) {
        chan_send(p->chan, buf, len);
}

int proc_recv_timeout(struct proc *p, void *buf, size_t len, int timeout_ms) {
        int r = chan_recv(p->chan, buf, len, timeout_ms);

        if (r < 0)
                proc_fail_exited(p, "waiting for a message from a child");
        return r;
}

void proc_recv(struct proc *p, void *buf, size_t len) {
        if (!proc_recv_timeout(p, buf, len, HARNESS_WAIT_MS))
                harness_fail_at(__FILE__, __LINE__, "no message from child '%s' within %d ms",
                                p->name, HARNESS_WAIT_MS);
}

void proc_send_u32(struct proc *p, uint32_t v) {
        proc_send(p, &v, sizeof(v));
}

uint32_t proc_recv_u32(struct proc *p) {
        uint32_t v;

        proc_recv(p, &v, sizeof(v));
        return v;
}

void proc_send_sid(struct proc *p, xous_sid_t sid) {
        proc_send(p, &sid, sizeof(sid));
}

xous_sid_t proc_recv_sid(struct proc *p) {
        xous_sid_t sid;

        proc_recv(p, &sid, sizeof(sid));
        return sid;
}

void proc_wait_exit(struct proc *p, int code) {
        char desc[1300];

        proc_reap(p, HARNESS_WAIT_MS);
        proc_describe(p, desc, sizeof(desc));
        close(p->chan);
        close(p->err);
        if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != code)
                harness_fail_at(__FILE__, __LINE__, "%s, want exit %d", desc, code);
}

void proc_wait_signal(struct proc *p, int sig) {
        char desc[1300];

        proc_reap(p, HARNESS_WAIT_MS);
        proc_describe(p, desc, sizeof(desc));
        close(p->chan);
        close(p->err);
        if (!WIFSIGNALED(p->status) || WTERMSIG(p->status) != sig)
                harness_fail_at(__FILE__, __LINE__, "%s, want death by signal %d (%s)", desc, sig, strsignal(sig));
}

/* The system call a process is blocked in, -1 when running or gone. */
long proc_syscall(pid_t pid) {
        char path[64];
        long nr = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        if (fscanf(f, "%ld", &nr) != 1)
                nr = -1;
        fclose(f);
        return nr;
}

/* Whether pid sleeps where the library waits for xnsd's answer: on its
 * channel's bell (read, or poll with a time limit), or on the socket of a
 * link without one (recvmsg). */
bool proc_waits_for_xnsd(pid_t pid) {
        long nr = proc_syscall(pid);

#ifdef SYS_poll
        if (nr == SYS_poll)
                return true;
#endif
        return nr == SYS_recvmsg || nr == SYS_read || nr == SYS_ppoll;
}

/* The round trip orders our request after the child's: xnsd handles every
 * ready link in a wakeup before it answers the next. */
void proc_wait_blocked(struct proc *p) {
        uint64_t deadline = now_ms() + HARNESS_WAIT_MS;
        xous_cid_t cid;

        while (!proc_waits_for_xnsd(p->pid)) {
                EXPECT_MSG(now_ms() < deadline, "'%s' not blocked in its request within %d ms", p->name,
                           HARNESS_WAIT_MS);
                sleep_ms(1);
        }
        EXPECT_ERR(xous_try_connect(random_sid(), &cid), XOUS_ERR_SERVER_NOT_FOUND);
}

/* SIGKILL cannot be refused: wait as long as the child takes to be reaped.
 * Its exit may take seconds on a loaded machine, which is no fault of the
 * test; a child the kernel never lets go is caught by the test's timeout. */
void proc_kill(struct proc *p) {
        if (p->reaped)
                return;
        proc_forget(p);
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, &p->status, 0) < 0 && errno == EINTR)
                ;
        p->reaped = true;
        close(p->chan);
        close(p->err);
}

void parent_send(const void *buf, size_t len) {
        EXPECT_MSG(child_chan >= 0, "parent_send outside a child");
        chan_send(child_chan, buf, len);
}

int parent_chan_fd(void) {
        EXPECT_MSG(child_chan >= 0, "parent_chan_fd outside a child");
        return child_chan;
}

void parent_recv(void *buf, size_t len) {
        int r;

        EXPECT_MSG(child_chan >= 0, "parent_recv outside a child");
        r = chan_recv(child_chan, buf, len, 20000);
        if (r < 0)
                _exit(0);       /* the test is gone: nothing left to do */
        EXPECT_MSG(r > 0, "no message from the test within 20 s");
}

void parent_send_u32(uint32_t v) {
        parent_send(&v, sizeof(v));
}

uint32_t parent_recv_u32(void) {
        uint32_t v;

        parent_recv(&v, sizeof(v));
        return v;
}

void parent_send_sid(xous_sid_t sid) {
        parent_send(&sid, sizeof(sid));
}

xous_sid_t parent_recv_sid(void) {
        xous_sid_t sid;

        parent_recv(&sid, sizeof(sid));
        return sid;
}

/* --- threads ------------------------------------------------------------ */

void thread_start(pthread_t *t, void *(*fn)(void *), void *arg) {
        int r = pthread_create(t, NULL, fn, arg);

        EXPECT_MSG(r == 0, "pthread_create: %s", strerror(r));
}

void thread_join(pthread_t t, int timeout_ms) {
        struct timespec ts;
        int r;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
        }
        r = pthread_timedjoin_np(t, NULL, &ts);
        EXPECT_MSG(r == 0, "thread did not finish within %d ms: %s", timeout_ms, strerror(r));
}

/* --- misc --------------------------------------------------------------- */

xous_sid_t random_sid(void) {
        xous_sid_t sid;

        EXPECT(getrandom(&sid, sizeof(sid), 0) == (ssize_t)sizeof(sid));
        return sid;
}

bool sid_equal(xous_sid_t a, xous_sid_t b) {
        return !memcmp(&a, &b, sizeof(a));
}

static uint32_t pattern_word(size_t i, uint32_t seed) {
        uint32_t x = (uint32_t)i * 2654435761u ^ seed;

        x ^= x >> 15;
        x *= 0x2c1b3c6du;
        x ^= x >> 12;
        return x;
}

void fill_pattern(void *buf, size_t len, uint32_t seed) {
        uint32_t *w = buf;

        for (size_t i = 0; i < len / 4; i++)
                w[i] = pattern_word(i, seed);
}

bool check_pattern(const void *buf, size_t len, uint32_t seed) {
        const uint32_t *w = buf;

        for (size_t i = 0; i < len / 4; i++)
                if (w[i] != pattern_word(i, seed))
                        return false;
        return true;
}

int raw_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        EXPECT(fd >= 0);
        strncpy(sa.sun_path, harness_socket_path(), sizeof(sa.sun_path) - 1);
        EXPECT_MSG(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s", strerror(errno));
        return fd;
}

xous_cid_t connect_name(const char *name) {
        xous_cid_t cid = 0;

        EXPECT_OK(xous_request_connection_blocking(name, &cid));
        return cid;
}

unsigned long long proc_cpu_ticks(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long long utime = 0, stime = 0;
        FILE *f;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        EXPECT_MSG(f, "%s: %s", path, strerror(errno));
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
                /* after the comm: state ppid pgrp session tty tpgid flags minflt
                 * cminflt majflt cmajflt utime stime */
                n = sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime);
        fclose(f);
        EXPECT_MSG(n == 2, "cannot parse %s", path);
        return utime + stime;
}

/* --- a ready-made server ------------------------------------------------- */

void echo_serve(xous_sid_t sid) {
        for (;;) {
                xous_envelope_t *env = NULL;
                uint32_t id;

                EXPECT_OK(xous_receive_message(sid, &env));
                id = xous_envelope_id(env);
                if (xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR)
                        EXPECT_OK(xous_return_scalar(env, id == ECHO_QUIT ? 0 : xous_envelope_args(env)[0] + 1));
                xous_envelope_drop(env);
                if (id == ECHO_QUIT)
                        return;
        }
}

void echo_server(void *name) {
        xous_sid_t sid;

        EXPECT_OK(xous_register_name(name, 0, &sid));
        parent_send_sid(sid);
        echo_serve(sid);
}

void echo_stop(struct proc *p, xous_cid_t cid) {
        xous_scalar_reply_t reply = { 0 };

        EXPECT_OK(xous_blocking_scalar(cid, ECHO_QUIT, 0, 0, 0, 0, &reply));
        proc_wait_exit(p, 0);
}

unsigned proc_fds(pid_t pid, const char *prefix) {
        char dir[64];
        unsigned n = 0;
        struct dirent *de;
        DIR *d;

        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
        d = opendir(dir);
        EXPECT_MSG(d, "%s: %s", dir, strerror(errno));
        while ((de = readdir(d))) {
                char path[400], target[256];
                ssize_t len;

                if (de->d_name[0] == '.' || (pid == getpid() && atoi(de->d_name) == dirfd(d)))
                        continue;
                if (!prefix) {
                        n++;
                        continue;
                }
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                len = readlink(path, target, sizeof(target) - 1);
                if (len > 0 && (target[len] = 0, !strncmp(target, prefix, strlen(prefix))))
                        n++;
        }
        closedir(d);
        return n;
}

unsigned long long proc_wakeups(pid_t pid) {
        char path[64];
        unsigned long long total = 0;
        struct dirent *de;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        d = opendir(path);
        EXPECT_MSG(d, "%s: %s", path, strerror(errno));
        while ((de = readdir(d))) {
                char file[400], line[128];
                unsigned long long n;
                FILE *f;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(file, sizeof(file), "%s/%s/status", path, de->d_name);
                f = fopen(file, "re");
                if (!f)
                        continue;       /* the thread just ended */
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1 ||
                            sscanf(line, "nonvoluntary_ctxt_switches: %llu", &n) == 1)
                                total += n;
                fclose(f);
        }
        closedir(d);
        return total;
}
