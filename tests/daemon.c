/* daemon.c: start and stop a private xnsd on a socket in a fresh temporary directory. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "wire.h"

bool socket_accepts(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
        return r == 0;
}

/* Asks for xnsd's status on a link of its own; 1 once an answer came within
 * timeout_ms, 0 when none did. */
static int link_status_answered(int fd, int timeout_ms) {
        struct xns_request req = { .seq = 1, .op = XNS_OP_CONTROL, .control = { .what = XNS_CONTROL_STATUS } };
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_reply reply;
        int rfd = -1, r;
        ssize_t n;

        n = xns_request_encode(&req, buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        r = xns_frame_send(fd, buf, (size_t)n, -1, false);
        if (r < 0)
                return r;
        do
                r = poll(&pfd, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
                return r < 0 ? -errno : 0;
        n = xns_frame_recv(fd, buf, sizeof(buf), &rfd, false);
        if (rfd >= 0)
                close(rfd);
        if (n <= 0)
                return n < 0 ? (int)n : -ECONNRESET;
        r = xns_reply_decode(&reply, buf, (size_t)n);
        if (r < 0)
                return r;
        return reply.seq == req.seq ? 1 : -EPROTO;
}

int daemon_answers(const char *path, int timeout_ms) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        r = link_status_answered(fd, timeout_ms);
        close(fd);
        return r;
}

int wait_child(pid_t pid, int *status, int timeout_ms) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

        for (;;) {
                pid_t r = waitpid(pid, status, WNOHANG);

                if (r == pid)
                        return 1;
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (now_ms() >= deadline)
                        return 0;
                sleep_ms(2);
        }
}

bool json_long(const char *json, const char *key, long *value) {
        char quoted[64];
        const char *p;

        snprintf(quoted, sizeof(quoted), "\"%s\":", key);
        p = strstr(json, quoted);
        if (!p)
                return false;
        *value = strtol(p + strlen(quoted), NULL, 10);
        return true;
}

char process_state(pid_t pid) {
        char path[64], buf[512], *p, state = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
                sscanf(p + 1, " %c", &state);
        fclose(f);
        return state;
}

void describe_status(char *buf, size_t size, int status) {
        if (WIFEXITED(status))
                snprintf(buf, size, "exited with %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
                snprintf(buf, size, "status 0x%x", status);
}

void test_daemon_remove_dir(struct test_daemon *d) {
        struct dirent *de;
        DIR *dir;

        if (!d->dir[0])
                return;
        dir = opendir(d->dir);
        if (dir) {
                while ((de = readdir(dir))) {
                        char path[512];

                        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", d->dir, de->d_name);
                        unlink(path);
                }
                closedir(dir);
        }
        rmdir(d->dir);
        d->dir[0] = 0;
}

/* XNSD_WRAPPER, when set, runs the daemon: `WRAPPER exe --socket ...`
 * (tests/valgrind-wrap.sh: the daemon under valgrind memcheck). */
static _Noreturn void exec_daemon(const struct test_daemon *d, const char *exe, const char *const *extra) {
        const char *wrapper = getenv("XNSD_WRAPPER");
        const char *argv[32];
        size_t n = 0;

        if (wrapper && !*wrapper)
                wrapper = NULL;
        if (wrapper)
                argv[n++] = wrapper;
        argv[n++] = wrapper ? exe : "xnsd";
        argv[n++] = "--socket";
        argv[n++] = d->sock;
        for (; extra && *extra && n < sizeof(argv) / sizeof(argv[0]) - 1; extra++)
                argv[n++] = *extra;
        argv[n] = NULL;
        execv(wrapper ? wrapper : exe, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", wrapper ? wrapper : exe, strerror(errno));
        _exit(127);
}

int test_daemon_start(struct test_daemon *d, const char *exe, const char *dir_template,
                      const char *const *extra, void (*child_setup)(void), int timeout_ms,
                      char *why, size_t why_size) {
        int r;

        snprintf(d->dir, sizeof(d->dir), "%s", dir_template);
        if (!mkdtemp(d->dir)) {
                r = -errno;
                d->dir[0] = 0;
                snprintf(why, why_size, "mkdtemp %s: %s", dir_template, strerror(-r));
                return r;
        }
        snprintf(d->sock, sizeof(d->sock), "%s/xns.sock", d->dir);
        r = test_daemon_spawn(d, exe, extra, child_setup, timeout_ms, why, why_size);
        if (r < 0)
                test_daemon_remove_dir(d);
        return r;
}

int test_daemon_spawn(struct test_daemon *d, const char *exe, const char *const *extra,
                      void (*child_setup)(void), int timeout_ms, char *why, size_t why_size) {
        uint64_t deadline;
        int status, r;

        d->pid = fork();
        if (d->pid < 0) {
                r = -errno;
                snprintf(why, why_size, "fork: %s", strerror(-r));
                return r;
        }
        if (d->pid == 0) {
                if (child_setup)
                        child_setup();
                exec_daemon(d, exe, extra);
        }

        deadline = now_ms() + (uint64_t)timeout_ms;
        for (;;) {
                uint64_t now = now_ms();

                r = daemon_answers(d->sock, deadline > now ? (int)(deadline - now) : 0);
                if (r > 0)
                        return 0;
                if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
                        char how[96];

                        describe_status(how, sizeof(how), status);
                        snprintf(why, why_size, "xnsd (%s) %s before it answered", exe, how);
                        d->pid = -1;
                        return -ECHILD;
                }
                if (now_ms() >= deadline) {
                        snprintf(why, why_size, "xnsd did not answer within %d ms (last try: %s)", timeout_ms,
                                 r == 0 ? "no answer" : strerror(-r));
                        test_daemon_stop(d, 1000, &status);
                        return -ETIMEDOUT;
                }
                sleep_ms(5);
        }
}

int test_daemon_stop(struct test_daemon *d, int timeout_ms, int *status) {
        int r;

        if (d->pid <= 0)
                return -ESRCH;
        kill(d->pid, SIGTERM);
        r = wait_child(d->pid, status, timeout_ms);
        if (r == 0) {
                kill(d->pid, SIGKILL);
                r = wait_child(d->pid, status, 5000);
                if (r > 0)
                        r = 0;
                else if (r == 0)
                        r = -ETIMEDOUT;
        }
        d->pid = -1;
        return r;
}
