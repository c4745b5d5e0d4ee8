/* test-xnsctl.c: the built xnsctl against a real xnsd with real server and
 * client processes: every command, human and JSON output, exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
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
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "harness.h"
#include "wire.h"

#define DEPTH 8                         /* the daemon's --queue-depth in these tests */
#define CTL_WAIT_MS 5000                /* bound on one xnsctl run */
#define NOBODY 65534
#define CTL_CANNOT_SWITCH 125           /* the forked child could not become another user */

#define SID_FMT "%08x%08x%08x%08x"
#define SID_ARGS(s) (s).w[0], (s).w[1], (s).w[2], (s).w[3]

/* Opcodes of the test server (srv_main). */
enum {
        OP_ADD1 = 1,            /* BlockingScalar: answers a1 + 1 */
        OP_PAIR = 2,            /* answers (a1 + a2, a3 + a4) */
        OP_NOTE = 3,            /* sent as a Scalar: no answer */
        OP_FIVE = 5,            /* answers (a1, a2, a3, a4, id) */
        OP_DROP = 6,            /* dropped unanswered: the caller gets INTERNAL_ERROR */
        OP_HOLD = 7,            /* held until the parent sends the answer */
        OP_SLOW = 8,            /* answers a1 after SLOW_MS */
        OP_FILL = 9,            /* MutableBorrow: valid = half the buffer */
        OP_PROBE = 0x70,        /* answers a1 + 1, used to see a monitor is live */
};

#define SLOW_MS 60

static void setup_depth(void) {
        harness_daemon_start(DEPTH);
}

#define EXPECT_STREQ(got, want)                                                         \
        do {                                                                            \
                const char *_g = (got), *_w = (want);                                   \
                harness_mark(__FILE__, __LINE__);                                       \
                if (strcmp(_g, _w) != 0)                                                \
                        harness_fail_at(__FILE__, __LINE__, "%s:\n got: '%s'\nwant: '%s'", #got, _g, _w); \
        } while (0)

#define EXPECT_CONTAINS(hay, needle)                                                    \
        do {                                                                            \
                const char *_h = (hay), *_n = (needle);                                 \
                harness_mark(__FILE__, __LINE__);                                       \
                if (!strstr(_h, _n))                                                    \
                        harness_fail_at(__FILE__, __LINE__, "%s lacks '%s':\n'%s'", #hay, _n, _h); \
        } while (0)

/* --- running xnsctl ------------------------------------------------------- */

struct ctl {
        char cmdline[512];
        pid_t pid;
        int code;               /* exit status; 128 + signal when killed */
        uint64_t elapsed_ms;
        char out[65536];
        char err[8192];
        size_t out_len, err_len;
};

/* How to run it: as another user, with another $XOUS_SOCKET. */
struct ctl_how {
        uid_t uid;              /* 0: as we are */
        const char *xous_socket;
        int timeout_ms;         /* 0: CTL_WAIT_MS */
};

static const char *xnsctl_path(void) {
        const char *p = getenv("XNSCTL");

        if (!p)
                ck_abort_msg("XNSCTL is not set (tests/meson.build sets it)");
        return p;
}

static void join_args(char *buf, size_t size, const char *const *argv) {
        size_t len = 0;

        buf[0] = 0;
        for (; *argv && len < size; argv++)
                len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? " " : "", *argv);
}

/* Forks and execs xnsctl with args; out and err get its stdout and stderr. */
static pid_t ctl_spawn(const struct ctl_how *how, const char *const *args, int *out, int *err) {
        const char *argv[32] = { "xnsctl" };
        int o[2], e[2];
        size_t n = 1;
        pid_t pid;

        for (; *args && n < 31; args++)
                argv[n++] = *args;
        argv[n] = NULL;
        EXPECT(pipe2(o, O_CLOEXEC) == 0);
        EXPECT(pipe2(e, O_CLOEXEC) == 0);
        fflush(NULL);
        pid = fork();
        EXPECT(pid >= 0);
        if (pid == 0) {
                dup2(o[1], STDOUT_FILENO);
                dup2(e[1], STDERR_FILENO);
                if (how && how->xous_socket)
                        setenv("XOUS_SOCKET", how->xous_socket, 1);
                if (how && how->uid && (setgroups(0, NULL) < 0 || setgid(how->uid) < 0 || setuid(how->uid) < 0)) {
                        fprintf(stderr, "cannot become uid %u: %s\n", (unsigned)how->uid, strerror(errno));
                        _exit(CTL_CANNOT_SWITCH);
                }
                prctl(PR_SET_PDEATHSIG, SIGKILL);       /* after setuid, which clears it */
                execv(xnsctl_path(), (char *const *)argv);
                fprintf(stderr, "exec %s: %s\n", xnsctl_path(), strerror(errno));
                _exit(127);
        }
        close(o[1]);
        close(e[1]);
        *out = o[0];
        *err = e[0];
        return pid;
}

/* Appends what fd has to buf; false at EOF. */
static bool drain(int fd, char *buf, size_t size, size_t *len) {
        char scratch[4096];
        ssize_t n;

        do
                n = read(fd, scratch, sizeof(scratch));
        while (n < 0 && errno == EINTR);
        if (n <= 0)
                return false;
        if ((size_t)n > size - 1 - *len)
                n = (ssize_t)(size - 1 - *len);         /* keep the start, drop the rest */
        memcpy(buf + *len, scratch, (size_t)n);
        *len += (size_t)n;
        buf[*len] = 0;
        return true;
}

static int exit_code(int status) {
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Reaps pid within timeout_ms; on timeout kills it, reaps it and fails. */
static int ctl_reap(const char *cmdline, pid_t pid, int timeout_ms) {
        int status, r;

        r = wait_child(pid, &status, timeout_ms);
        if (r == 0) {
                kill(pid, SIGKILL);
                wait_child(pid, &status, 5000);
                harness_fail_at(__FILE__, __LINE__, "'%s' did not exit within %d ms", cmdline, timeout_ms);
        }
        EXPECT_MSG(r > 0, "waitpid: %s", strerror(-r));
        return exit_code(status);
}

/* Runs xnsctl to completion (bounded), capturing both outputs. */
static void ctl_run_how(struct ctl *c, const struct ctl_how *how, const char *const *args) {
        int timeout_ms = how && how->timeout_ms ? how->timeout_ms : CTL_WAIT_MS;
        uint64_t start = now_ms(), deadline = start + (uint64_t)timeout_ms;
        struct pollfd p[2];
        int out, err;

        c->out[0] = c->err[0] = 0;
        c->out_len = c->err_len = 0;
        join_args(c->cmdline, sizeof(c->cmdline), args);
        c->pid = ctl_spawn(how, args, &out, &err);
        p[0] = (struct pollfd){ .fd = out, .events = POLLIN };
        p[1] = (struct pollfd){ .fd = err, .events = POLLIN };
        while (p[0].fd >= 0 || p[1].fd >= 0) {
                int64_t left = (int64_t)deadline - (int64_t)now_ms();
                int r;

                if (left <= 0)
                        break;
                r = poll(p, 2, (int)left);
                if (r < 0 && errno == EINTR)
                        continue;
                EXPECT_MSG(r >= 0, "poll: %s", strerror(errno));
                if (p[0].revents && !drain(out, c->out, sizeof(c->out), &c->out_len))
                        p[0].fd = -1;
                if (p[1].revents && !drain(err, c->err, sizeof(c->err), &c->err_len))
                        p[1].fd = -1;
        }
        close(out);
        close(err);
        c->code = ctl_reap(c->cmdline, c->pid, (int)((int64_t)deadline - (int64_t)now_ms() > 0 ?
                                                     (int64_t)deadline - (int64_t)now_ms() : 1));
        c->elapsed_ms = now_ms() - start;
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define CTL(c, ...) ctl_run_how((c), NULL, ARGS(__VA_ARGS__))
#define CTL_HOW(c, how, ...) ctl_run_how((c), (how), ARGS(__VA_ARGS__))

#define EXPECT_EXIT(c, want)                                                            \
        do {                                                                            \
                harness_mark(__FILE__, __LINE__);                                       \
                if ((c)->code != (want))                                                \
                        harness_fail_at(__FILE__, __LINE__,                             \
                                        "'xnsctl %s' exited %d, want %d\nstdout: '%s'\nstderr: '%s'", \
                                        (c)->cmdline, (c)->code, (want), (c)->out, (c)->err); \
        } while (0)

/* Runs and expects exit 0 with nothing on stderr. */
#define CTL_OK(c, ...)                                                                  \
        do {                                                                            \
                CTL((c), __VA_ARGS__);                                                  \
                EXPECT_EXIT((c), 0);                                                    \
                EXPECT_STREQ((c)->err, "");                                             \
        } while (0)

/* --- xnsctl in the background (monitor) ---------------------------------- */

struct bg {
        char cmdline[512];
        pid_t pid;
        int out, err;
        char buf[65536];
        char ebuf[8192];
        size_t len, elen;
        bool out_eof, err_eof;
};

static void bg_start(struct bg *b, const char *const *args) {
        *b = (struct bg){ .pid = -1 };
        join_args(b->cmdline, sizeof(b->cmdline), args);
        b->pid = ctl_spawn(NULL, args, &b->out, &b->err);
}

/* Reads whatever arrives within timeout_ms (at most until one read). */
static void bg_read(struct bg *b, int timeout_ms) {
        struct pollfd p[2] = {
                { .fd = b->out_eof ? -1 : b->out, .events = POLLIN },
                { .fd = b->err_eof ? -1 : b->err, .events = POLLIN },
        };
        int r;

        if (b->out_eof && b->err_eof) {
                sleep_ms((unsigned)timeout_ms);
                return;
        }
        r = poll(p, 2, timeout_ms);
        if (r <= 0)
                return;
        if (p[0].revents && !drain(b->out, b->buf, sizeof(b->buf), &b->len))
                b->out_eof = true;
        if (p[1].revents && !drain(b->err, b->ebuf, sizeof(b->ebuf), &b->elen))
                b->err_eof = true;
}

/* Copies the first complete stdout line containing needle into line. */
static bool bg_find(struct bg *b, const char *needle, char *line, size_t size) {
        const char *s = b->buf;
        const char *nl;

        while ((nl = strchr(s, '\n'))) {
                const char *hit = memmem(s, (size_t)(nl - s), needle, strlen(needle));

                if (hit) {
                        snprintf(line, size, "%.*s", (int)(nl - s), s);
                        return true;
                }
                s = nl + 1;
        }
        return false;
}

static bool bg_wait_line_for(struct bg *b, const char *needle, char *line, size_t size, int timeout_ms) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

        for (;;) {
                int64_t left = (int64_t)deadline - (int64_t)now_ms();

                if (bg_find(b, needle, line, size))
                        return true;
                if (left <= 0)
                        return false;
                bg_read(b, (int)(left < 100 ? left : 100));
        }
}

/* The stdout line containing needle, waiting up to HARNESS_WAIT_MS. */
static void bg_wait_line(struct bg *b, const char *needle, char *line, size_t size) {
        if (!bg_wait_line_for(b, needle, line, size, HARNESS_WAIT_MS))
                harness_fail_at(__FILE__, __LINE__, "'xnsctl %s' printed no line with '%s' in %d ms\nstdout: '%s'\nstderr: '%s'",
                                b->cmdline, needle, HARNESS_WAIT_MS, b->buf, b->ebuf);
}

static void bg_wait_stderr(struct bg *b, const char *needle) {
        uint64_t deadline = now_ms() + HARNESS_WAIT_MS;

        while (!strstr(b->ebuf, needle)) {
                EXPECT_MSG(now_ms() < deadline, "'xnsctl %s' wrote no '%s' on stderr\nstdout: '%s'\nstderr: '%s'",
                           b->cmdline, needle, b->buf, b->ebuf);
                bg_read(b, 100);
        }
}

/* Sends sig (0: none), reads to EOF and reaps, all within timeout_ms;
 * returns the exit code. */
static int bg_finish(struct bg *b, int sig, int timeout_ms) {
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
        int code;

        if (sig)
                kill(b->pid, sig);
        while ((!b->out_eof || !b->err_eof) && now_ms() < deadline)
                bg_read(b, 50);
        close(b->out);
        close(b->err);
        code = ctl_reap(b->cmdline, b->pid, (int)(deadline > now_ms() ? deadline - now_ms() : 1));
        b->pid = -1;
        return code;
}

/* --- output parsing -------------------------------------------------------- */

/* Copies in with runs of blanks made one space and blanks at line ends removed. */
static void squeeze(const char *in, char *out, size_t size) {
        size_t n = 0;
        bool blank = false;

        for (; *in && n + 2 < size; in++) {
                if (*in == ' ' || *in == '\t') {
                        blank = true;
                        continue;
                }
                if (blank && n > 0 && out[n - 1] != '\n' && *in != '\n')
                        out[n++] = ' ';
                blank = false;
                out[n++] = *in;
        }
        out[n] = 0;
}

/* The squeezed line of text whose first word is word ("" when none). */
static void table_row(const char *text, const char *word, char *row, size_t size) {
        char sq[65536];
        size_t wl = strlen(word);

        squeeze(text, sq, sizeof(sq));
        row[0] = 0;
        for (char *s = sq, *nl; *s; s = nl + 1) {
                nl = strchrnul(s, '\n');
                if (strncmp(s, word, wl) == 0 && (s[wl] == ' ' || s + wl == nl)) {
                        snprintf(row, size, "%.*s", (int)(nl - s), s);
                        return;
                }
                if (!*nl)
                        break;
        }
}

static size_t count_lines(const char *text) {
        size_t n = 0;

        for (; *text; text++)
                n += *text == '\n';
        return n;
}

static size_t count_str(const char *hay, const char *needle) {
        size_t n = 0;

        for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle))
                n++;
        return n;
}

/* Where the value of "key" starts in json (first occurrence). */
static const char *json_at(const char *json, const char *key) {
        char pat[80];
        const char *p;

        snprintf(pat, sizeof(pat), "\"%s\":", key);
        p = strstr(json, pat);
        EXPECT_MSG(p, "no \"%s\" in '%s'", key, json);
        return p + strlen(pat);
}

static unsigned long long json_u64(const char *json, const char *key) {
        const char *p = json_at(json, key);
        char *end;
        unsigned long long v;

        EXPECT_MSG(*p >= '0' && *p <= '9', "\"%s\" is no number in '%s'", key, json);
        v = strtoull(p, &end, 10);
        EXPECT_MSG(*end == ',' || *end == '}', "\"%s\" is no number in '%s'", key, json);
        return v;
}

/* Copies the balanced {...} object that starts with start out of json. */
static void object_text(const char *json, const char *start, char *obj, size_t size) {
        const char *s = strstr(json, start), *p;
        int depth = 0;
        bool str = false;

        EXPECT_MSG(s, "no object starting '%s' in '%s'", start, json);
        for (p = s; *p; p++) {
                if (str) {
                        if (*p == '\\' && p[1])
                                p++;
                        else if (*p == '"')
                                str = false;
                        continue;
                }
                if (*p == '"')
                        str = true;
                else if (*p == '{' || *p == '[')
                        depth++;
                else if ((*p == '}' || *p == ']') && --depth == 0)
                        break;
        }
        EXPECT_MSG(*p == '}', "unbalanced object at '%s'", s);
        snprintf(obj, size, "%.*s", (int)(p + 1 - s), s);
}

/* The value after "key:" in key: value output ("" when none). */
static void human_field(const char *text, const char *key, char *value, size_t size) {
        char pat[80];
        const char *p;

        snprintf(pat, sizeof(pat), "%s:", key);
        value[0] = 0;
        for (p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                if (strncmp(p, pat, strlen(pat)) == 0) {
                        p += strlen(pat);
                        p += strspn(p, " ");
                        snprintf(value, size, "%.*s", (int)strcspn(p, "\n"), p);
                        return;
                }
        }
}

/* --- the server and client processes ------------------------------------- */

struct srv_cfg {
        const char *comm;
        const char *names[3];
        uint32_t max_conns;     /* for names[0] */
        bool gated;             /* receives only when the parent says how many */
        bool report;            /* sends a struct seen per message (OP_HOLD always) */
};

/* What the server received, for the parent. */
struct seen {
        uint32_t kind, id, a[4], len, sender;
};

#define SRV_EXIT 0xffffffffu
#define SRV_QUIT 0x5155u        /* ungated server: a Scalar with this opcode ends it */

/* Handles one message on sid; false when it was SRV_QUIT. */
static bool srv_handle(const struct srv_cfg *cfg, xous_sid_t sid) {
        xous_envelope_t *env = NULL;
        struct seen s;
        const uint32_t *a;

        EXPECT_OK(xous_receive_message(sid, &env));
        a = xous_envelope_args(env);
        s = (struct seen){ .kind = xous_envelope_kind(env), .id = xous_envelope_id(env),
                           .a = { a[0], a[1], a[2], a[3] }, .len = (uint32_t)xous_envelope_buf_len(env),
                           .sender = xous_envelope_sender_pid(env) };
        if (cfg->report || s.id == OP_HOLD)
                parent_send(&s, sizeof(s));
        if (s.kind == XOUS_MSG_BLOCKING_SCALAR) {
                switch (s.id) {
                case OP_ADD1:
                case OP_PROBE:
                        EXPECT_OK(xous_return_scalar(env, a[0] + 1));
                        break;
                case OP_PAIR:
                        EXPECT_OK(xous_return_scalar2(env, a[0] + a[1], a[2] + a[3]));
                        break;
                case OP_FIVE: {
                        const uint32_t v[5] = { a[0], a[1], a[2], a[3], s.id };

                        EXPECT_OK(xous_return_scalar5(env, v));
                        break;
                }
                case OP_HOLD:
                        EXPECT_OK(xous_return_scalar(env, parent_recv_u32()));
                        break;
                case OP_SLOW:
                        sleep_ms(SLOW_MS);
                        EXPECT_OK(xous_return_scalar(env, a[0]));
                        break;
                default:        /* OP_DROP and the rest: dropped unanswered */
                        break;
                }
        } else if (s.kind == XOUS_MSG_MUTABLE_BORROW) {
                xous_envelope_set_offset_valid(env, 0, s.len / 2);
        }
        xous_envelope_drop(env);
        return !(s.kind == XOUS_MSG_SCALAR && s.id == SRV_QUIT);
}

/* Registers cfg->names (sending each SID to the parent), then serves
 * names[0]: for ever (until SRV_QUIT), or as many messages as the parent
 * says at a time (until SRV_EXIT). */
static void srv_main(void *arg) {
        const struct srv_cfg *cfg = arg;
        xous_sid_t sids[3];

        prctl(PR_SET_NAME, cfg->comm);
        for (size_t i = 0; i < 3 && cfg->names[i]; i++) {
                EXPECT_OK(xous_register_name(cfg->names[i], i == 0 ? cfg->max_conns : 0, &sids[i]));
                parent_send_sid(sids[i]);
        }
        if (!cfg->gated) {
                while (srv_handle(cfg, sids[0]))
                        ;
                return;
        }
        for (;;) {
                uint32_t n = parent_recv_u32();

                if (n == SRV_EXIT)
                        return;
                for (uint32_t i = 0; i < n; i++)
                        srv_handle(cfg, sids[0]);
        }
}

struct srv {
        struct proc p;
        xous_sid_t sid[3];
        char hex[3][33];
};

static void srv_start(struct srv *s, struct srv_cfg *cfg) {
        proc_start(&s->p, cfg->comm, srv_main, cfg);
        for (size_t i = 0; i < 3 && cfg->names[i]; i++) {
                s->sid[i] = proc_recv_sid(&s->p);
                snprintf(s->hex[i], sizeof(s->hex[i]), SID_FMT, SID_ARGS(s->sid[i]));
        }
}

static struct seen srv_seen(struct srv *s) {
        struct seen seen;

        proc_recv(&s->p, &seen, sizeof(seen));
        return seen;
}

/* A client process that does what the parent tells it. */
enum { CLI_CONNECT, CLI_SCALAR, CLI_TRY_SCALAR, CLI_BSCALAR, CLI_BSCALAR_TIMEOUT, CLI_LEND_MUT, CLI_EXIT };

struct cli_cmd {
        uint32_t op, cid, id, a[4], len;       /* len: CLI_BSCALAR_TIMEOUT's limit in ms */
        char name[XOUS_NAME_MAX + 1];
};

struct cli_res {
        uint32_t err, cid, offset, valid;
        xous_scalar_reply_t reply;
};

struct cli_cfg {
        const char *comm;
        uid_t uid;              /* 0: stay root */
};

static void cli_main(void *arg) {
        const struct cli_cfg *cfg = arg;

        prctl(PR_SET_NAME, cfg->comm);
        if (cfg->uid)
                EXPECT_MSG(setgroups(0, NULL) == 0 && setgid(cfg->uid) == 0 && setuid(cfg->uid) == 0,
                           "cannot become uid %u: %s", (unsigned)cfg->uid, strerror(errno));
        for (;;) {
                struct cli_cmd c;
                struct cli_res r = { 0 };

                parent_recv(&c, sizeof(c));
                switch (c.op) {
                case CLI_CONNECT:
                        r.err = xous_request_connection_blocking(c.name, &r.cid);
                        break;
                case CLI_SCALAR:
                        r.err = xous_send_scalar(c.cid, c.id, c.a[0], c.a[1], c.a[2], c.a[3]);
                        break;
                case CLI_TRY_SCALAR:
                        r.err = xous_try_send_scalar(c.cid, c.id, c.a[0], c.a[1], c.a[2], c.a[3]);
                        break;
                case CLI_BSCALAR:
                        r.err = xous_blocking_scalar(c.cid, c.id, c.a[0], c.a[1], c.a[2], c.a[3], &r.reply);
                        break;
                case CLI_BSCALAR_TIMEOUT:
                        r.err = xous_blocking_scalar_timeout(c.cid, c.id, c.a[0], c.a[1], c.a[2], c.a[3], &r.reply,
                                                             c.len);
                        break;
                case CLI_LEND_MUT: {
                        xous_buf_t *buf = xous_buf_new(c.len);

                        EXPECT(buf);
                        r.valid = c.len;
                        r.err = xous_lend_mut(c.cid, c.id, buf, &r.offset, &r.valid);
                        xous_buf_free(buf);
                        break;
                }
                default:
                        return;
                }
                parent_send(&r, sizeof(r));
        }
}

static void cli_start(struct proc *p, struct cli_cfg *cfg) {
        proc_start(p, cfg->comm, cli_main, cfg);
}

/* Sends a command without waiting for its result. */
static void cli_post(struct proc *p, uint32_t op, uint32_t cid, uint32_t id, uint32_t a1, uint32_t a2,
                     uint32_t a3, uint32_t a4) {
        struct cli_cmd c = { .op = op, .cid = cid, .id = id, .a = { a1, a2, a3, a4 } };

        proc_send(p, &c, sizeof(c));
}

static struct cli_res cli_result(struct proc *p) {
        struct cli_res r;

        proc_recv(p, &r, sizeof(r));
        return r;
}

static struct cli_res cli_do(struct proc *p, uint32_t op, uint32_t cid, uint32_t id, uint32_t a1, uint32_t a2,
                             uint32_t a3, uint32_t a4) {
        cli_post(p, op, cid, id, a1, a2, a3, a4);
        return cli_result(p);
}

static uint32_t cli_connect(struct proc *p, const char *name) {
        struct cli_cmd c = { .op = CLI_CONNECT };
        struct cli_res r;

        snprintf(c.name, sizeof(c.name), "%s", name);
        proc_send(p, &c, sizeof(c));
        r = cli_result(p);
        EXPECT_MSG(r.err == XOUS_OK, "client connecting to %s: %s", name, harness_errname(r.err));
        return r.cid;
}

static struct cli_res cli_lend_mut(struct proc *p, uint32_t cid, uint32_t id, uint32_t len) {
        struct cli_cmd c = { .op = CLI_LEND_MUT, .cid = cid, .id = id, .len = len };

        proc_send(p, &c, sizeof(c));
        return cli_result(p);
}

static void cli_exit(struct proc *p) {
        cli_post(p, CLI_EXIT, 0, 0, 0, 0, 0, 0);
        proc_wait_exit(p, 0);
}

/* Ends an ungated server through a client's cid. */
static void srv_quit(struct srv *s, struct proc *cli, uint32_t cid) {
        EXPECT_OK(cli_do(cli, CLI_SCALAR, cid, SRV_QUIT, 0, 0, 0, 0).err);
        proc_wait_exit(&s->p, 0);
}

/* Polls `xnsctl --json show name` until "field" is want (bounded). */
static void wait_show_field(const char *name, const char *field, unsigned long long want) {
        uint64_t deadline = now_ms() + HARNESS_WAIT_MS;
        struct ctl c;

        for (;;) {
                CTL_OK(&c, "--json", "show", name);
                if (json_u64(c.out, field) == want)
                        return;
                EXPECT_MSG(now_ms() < deadline, "show %s: \"%s\" never became %llu: %s", name, field, want, c.out);
                sleep_ms(10);
        }
}

/* --- status --------------------------------------------------------------- */

static void expect_status(const struct ctl *human, const struct ctl *json, unsigned names, unsigned servers,
                          unsigned processes, unsigned links, unsigned pending) {
        char want[2048], got[2048], uptime[64];
        unsigned long long up = json_u64(json->out, "uptime_s");

        EXPECT_MSG(up < 60, "uptime %llu s of a daemon started in this test", up);
        snprintf(want, sizeof(want),
                 "{\"version\":\"%s\",\"pid\":%d,\"uptime_s\":%llu,\"names\":%u,\"servers\":%u,\"processes\":%u,"
                 "\"links\":%u,\"pending_calls\":%u,\"gateway\":null,\"limits\":{\"queue_depth\":%u,\"max_cids\":4096,"
                 "\"frame_max\":%u,\"max_names\":64,\"max_servers\":256,\"max_queued\":1024,"
                 "\"max_links_per_uid\":4096,\"max_shm_mb\":1024}}\n",
                 XNS_VERSION, (int)harness_daemon_pid(), up, names, servers, processes, links, pending, DEPTH,
                 XNS_FRAME_MAX);
        EXPECT_STREQ(json->out, want);

        human_field(human->out, "uptime", uptime, sizeof(uptime));
        EXPECT_MSG(strlen(uptime) >= 2 && uptime[strlen(uptime) - 1] == 's' &&
                   strspn(uptime, "0123456789") == strlen(uptime) - 1, "uptime '%s'", uptime);
        squeeze(human->out, got, sizeof(got));
        snprintf(want, sizeof(want),
                 "version: %s\npid: %d\nuptime: %s\nnames: %u\nservers: %u\nprocesses: %u\nlinks: %u\n"
                 "pending calls: %u\nqueue depth: %u\nmax cids: 4096 per process\nmax names: 64 per process\n"
                 "max servers: 256 per process\nmax queued: 1024 per process\nmax links: 4096 per user\n"
                 "max shm: 1024 MiB per user\nframe max: %u bytes\ngateway: none (names are this host's only)\n",
                 XNS_VERSION, (int)harness_daemon_pid(), uptime, names, servers, processes, links, pending,
                 DEPTH, XNS_FRAME_MAX);
        EXPECT_STREQ(got, want);
}

START_TEST(status_counts_and_limits) {
        struct srv_cfg scfg = { .comm = "xsrv-status", .names = { "st-one", "st-two" }, .report = true };
        struct cli_cfg ccfg = { .comm = "xcli-status" };
        struct ctl h, j;
        struct srv srv;
        struct proc cli;
        uint32_t cid;

        /* Nothing but xnsctl's own link. */
        CTL_OK(&h, "status");
        CTL_OK(&j, "--json", "status");
        expect_status(&h, &j, 0, 0, 0, 1, 0);

        srv_start(&srv, &scfg);
        CTL_OK(&h, "status");
        CTL_OK(&j, "-j", "status");
        expect_status(&h, &j, 2, 2, 1, 2, 0);

        /* A client blocked in a call the server holds: one pending call. */
        cli_start(&cli, &ccfg);
        cid = cli_connect(&cli, "st-one");
        cli_post(&cli, CLI_BSCALAR, cid, OP_HOLD, 0, 0, 0, 0);
        EXPECT_EQ(srv_seen(&srv).id, OP_HOLD);
        CTL_OK(&h, "status");
        CTL_OK(&j, "status", "--json");
        expect_status(&h, &j, 2, 2, 2, 3, 1);

        proc_send_u32(&srv.p, 5);
        EXPECT_EQ(cli_result(&cli).reply.v[0], 5);
        srv_quit(&srv, &cli, cid);
        cli_exit(&cli);
        /* Both gone: the names and processes with them. */
        CTL_OK(&h, "status");
        CTL_OK(&j, "--json", "status");
        expect_status(&h, &j, 0, 0, 0, 1, 0);
}
END_TEST

/* --- list ----------------------------------------------------------------- */

static void list_obj(char *buf, size_t size, const char *name, const char *sid, pid_t pid, const char *comm,
                     unsigned conns, unsigned max_conns, unsigned queued, unsigned served) {
        snprintf(buf, size,
                 "{\"name\":\"%s\",\"host\":\"\",\"sid\":\"%s\",\"pid\":%d,\"command\":\"%s\",\"conns\":%u,\"max_conns\":%u,"
                 "\"queue_depth\":%u,\"queued\":%u,\"served\":%u}",
                 name, sid, (int)pid, comm, conns, max_conns, DEPTH, queued, served);
}

static void list_row(char *buf, size_t size, const char *name, const char *sid, pid_t pid, const char *comm,
                     unsigned conns, unsigned max_conns, unsigned queued, unsigned served) {
        char limit[16] = "-";

        if (max_conns)
                snprintf(limit, sizeof(limit), "%u", max_conns);
        snprintf(buf, size, "%s - %s %d %s %u/%s %u/%u %u", name, sid, (int)pid, comm, conns, limit, queued, DEPTH,
                 served);
}

/* list and list --json show alpha (conns/queued/served as given), bravo and
 * charlie (idle), in that order, and nothing else. */
static void expect_list(const struct srv *srv, unsigned conns, unsigned queued, unsigned served) {
        const char *comm = "xsrv-list";
        const char *names[3] = { "alpha", "bravo", "charlie" };
        const int sid_of[3] = { 0, 2, 1 };     /* registered alpha, charlie, bravo */
        char want[4096], obj[3][512], row[512], got[512];
        struct ctl c;

        CTL_OK(&c, "--json", "list");
        list_obj(obj[0], sizeof(obj[0]), "alpha", srv->hex[0], srv->p.pid, comm, conns, 2, queued, served);
        list_obj(obj[1], sizeof(obj[1]), "bravo", srv->hex[2], srv->p.pid, comm, 0, 0, 0, 0);
        list_obj(obj[2], sizeof(obj[2]), "charlie", srv->hex[1], srv->p.pid, comm, 0, 0, 0, 0);
        snprintf(want, sizeof(want), "{\"names\":[%s,%s,%s]}\n", obj[0], obj[1], obj[2]);
        EXPECT_STREQ(c.out, want);

        CTL_OK(&c, "list");
        EXPECT_EQ(count_lines(c.out), 4);
        squeeze(c.out, want, sizeof(want));
        EXPECT_MSG(strncmp(want, "NAME HOST SID PID COMMAND CONNS QUEUE SERVED\n", 45) == 0, "header: %s", c.out);
        for (int i = 0; i < 3; i++) {
                bool a = i == 0;

                list_row(row, sizeof(row), names[i], srv->hex[sid_of[i]], srv->p.pid, comm, a ? conns : 0,
                         a ? 2 : 0, a ? queued : 0, a ? served : 0);
                table_row(c.out, names[i], got, sizeof(got));
                EXPECT_STREQ(got, row);
        }
        /* Sorted by name: alpha, bravo, charlie. */
        EXPECT(strstr(c.out, "\nalpha ") && strstr(c.out, "\nalpha ") < strstr(c.out, "\nbravo ") &&
               strstr(c.out, "\nbravo ") < strstr(c.out, "\ncharlie "));
}

START_TEST(list_shows_names) {
        struct srv_cfg scfg = { .comm = "xsrv-list", .names = { "alpha", "charlie", "bravo" }, .max_conns = 2,
                                .gated = true, .report = true };
        struct cli_cfg ccfg = { .comm = "xcli-list" };
        struct srv srv;
        struct proc cli;
        struct ctl c;
        uint32_t cid;

        CTL_OK(&c, "--json", "list");
        EXPECT_STREQ(c.out, "{\"names\":[]}\n");
        CTL_OK(&c, "list");
        EXPECT_EQ(count_lines(c.out), 1);

        srv_start(&srv, &scfg);
        expect_list(&srv, 0, 0, 0);

        /* One connection of two; three scalars wait in the queue. */
        cli_start(&cli, &ccfg);
        cid = cli_connect(&cli, "alpha");
        for (uint32_t i = 0; i < 3; i++)
                EXPECT_OK(cli_do(&cli, CLI_SCALAR, cid, OP_NOTE, i, 0, 0, 0).err);
        expect_list(&srv, 1, 3, 0);

        /* The server takes them and two more: served 5, queue empty. */
        proc_send_u32(&srv.p, 5);
        for (uint32_t i = 0; i < 3; i++)
                EXPECT_EQ(srv_seen(&srv).a[0], i);
        for (uint32_t i = 0; i < 2; i++) {
                struct cli_res r = cli_do(&cli, CLI_BSCALAR, cid, OP_ADD1, 10 + i, 0, 0, 0);

                EXPECT_OK(r.err);
                EXPECT_EQ(r.reply.v[0], 11 + i);
                EXPECT_EQ(srv_seen(&srv).id, OP_ADD1);
        }
        expect_list(&srv, 1, 0, 5);

        /* A second connection fills the limit: 2/2. */
        cli_connect(&cli, "alpha");
        expect_list(&srv, 2, 0, 5);

        cli_exit(&cli);
        proc_send_u32(&srv.p, SRV_EXIT);
        proc_wait_exit(&srv.p, 0);
        CTL_OK(&c, "--json", "list");
        EXPECT_STREQ(c.out, "{\"names\":[]}\n");
}
END_TEST

/* --- peers ---------------------------------------------------------------- */

START_TEST(peers_shows_processes) {
        struct srv_cfg scfg = { .comm = "xsrv-peers", .names = { "peersrv", "peersrv2" }, .report = true };
        struct cli_cfg ccfg = { .comm = "xcli-peers" };
        char want[1024], obj[1024], row[512];
        struct srv srv;
        struct proc cli;
        struct ctl c;
        uint32_t cid1, cid2;

        CTL_OK(&c, "--json", "peers");
        EXPECT_STREQ(c.out, "{\"peers\":[]}\n");

        srv_start(&srv, &scfg);
        cli_start(&cli, &ccfg);
        cid1 = cli_connect(&cli, "peersrv");
        cid2 = cli_connect(&cli, "peersrv2");
        EXPECT(cid1 != cid2);
        cli_post(&cli, CLI_BSCALAR, cid1, OP_HOLD, 0, 0, 0, 0);
        EXPECT_EQ(srv_seen(&srv).id, OP_HOLD);         /* the client is blocked now */

        CTL_OK(&c, "--json", "peers");
        EXPECT_EQ(count_str(c.out, "{\"pid\":"), 2);
        snprintf(want, sizeof(want),
                 "{\"pid\":%d,\"uid\":0,\"host\":\"\",\"command\":\"xsrv-peers\",\"links\":1,\"cids\":[],\"servers\":"
                 "[{\"sid\":\"%s\",\"name\":\"peersrv\"},{\"sid\":\"%s\",\"name\":\"peersrv2\"}],\"blocked_calls\":0}",
                 (int)srv.p.pid, srv.hex[0], srv.hex[1]);
        snprintf(row, sizeof(row), "{\"pid\":%d,", (int)srv.p.pid);
        object_text(c.out, row, obj, sizeof(obj));
        EXPECT_STREQ(obj, want);
        snprintf(want, sizeof(want),
                 "{\"pid\":%d,\"uid\":0,\"host\":\"\",\"command\":\"xcli-peers\",\"links\":1,\"cids\":[{\"cid\":%u,\"server\":"
                 "\"peersrv\"},{\"cid\":%u,\"server\":\"peersrv2\"}],\"servers\":[],\"blocked_calls\":1}",
                 (int)cli.pid, cid1, cid2);
        snprintf(row, sizeof(row), "{\"pid\":%d,", (int)cli.pid);
        object_text(c.out, row, obj, sizeof(obj));
        EXPECT_STREQ(obj, want);

        CTL_OK(&c, "peers");
        EXPECT_EQ(count_lines(c.out), 3);
        squeeze(c.out, want, sizeof(want));
        EXPECT_MSG(strncmp(want, "PID UID HOST COMMAND LINKS BLOCKED SERVERS CIDS\n", 48) == 0, "header: %s", c.out);
        snprintf(want, sizeof(want), "%d 0 - xsrv-peers 1 0 peersrv,peersrv2 -", (int)srv.p.pid);
        snprintf(row, sizeof(row), "%d", (int)srv.p.pid);
        table_row(c.out, row, obj, sizeof(obj));
        EXPECT_STREQ(obj, want);
        snprintf(want, sizeof(want), "%d 0 - xcli-peers 1 1 - %u=peersrv %u=peersrv2", (int)cli.pid, cid1, cid2);
        snprintf(row, sizeof(row), "%d", (int)cli.pid);
        table_row(c.out, row, obj, sizeof(obj));
        EXPECT_STREQ(obj, want);

        /* Answered: no longer blocked. */
        proc_send_u32(&srv.p, 77);
        EXPECT_EQ(cli_result(&cli).reply.v[0], 77);
        CTL_OK(&c, "--json", "peers");
        snprintf(row, sizeof(row), "{\"pid\":%d,", (int)cli.pid);
        object_text(c.out, row, obj, sizeof(obj));
        EXPECT_EQ(json_u64(obj, "blocked_calls"), 0);

        srv_quit(&srv, &cli, cid1);
        /* The server is gone: the client's cids now name its SIDs. */
        CTL_OK(&c, "--json", "peers");
        EXPECT_EQ(count_str(c.out, "{\"pid\":"), 1);
        snprintf(want, sizeof(want), "{\"peers\":[{\"pid\":%d,\"uid\":0,\"host\":\"\",\"command\":\"xcli-peers\",\"links\":1,"
                 "\"cids\":[{\"cid\":%u,\"server\":\"%s\"},{\"cid\":%u,\"server\":\"%s\"}],\"servers\":[],"
                 "\"blocked_calls\":0}]}\n", (int)cli.pid, cid1, srv.hex[0], cid2, srv.hex[1]);
        EXPECT_STREQ(c.out, want);
        cli_exit(&cli);
}
END_TEST

/* Makes the daemon's socket reachable for uid NOBODY; false (with why)
 * when that cannot be (not root, or the build tree is closed to it). */
static bool nobody_can_reach(char *why, size_t size) {
        char dir[128];
        pid_t pid;
        int status;

        if (geteuid() != 0) {
                snprintf(why, size, "not running as root: cannot switch to uid %d", NOBODY);
                return false;
        }
        snprintf(dir, sizeof(dir), "%s", harness_socket_path());
        EXPECT(chmod(dirname(dir), 0755) == 0);         /* mkdtemp made it 0700 */
        pid = fork();
        EXPECT(pid >= 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                        _exit(1);
                if (access(harness_socket_path(), W_OK) < 0)
                        _exit(2);
                _exit(access(xnsctl_path(), X_OK) < 0 ? 3 : 0);
        }
        EXPECT(wait_child(pid, &status, 5000) > 0);
        switch (exit_code(status)) {
        case 0:
                return true;
        case 1:
                snprintf(why, size, "cannot switch to uid %d", NOBODY);
                break;
        case 2:
                snprintf(why, size, "uid %d cannot reach %s", NOBODY, harness_socket_path());
                break;
        default:
                snprintf(why, size, "uid %d cannot run %s", NOBODY, xnsctl_path());
                break;
        }
        return false;
}

START_TEST(peers_and_monitor_need_privilege) {
        struct srv_cfg scfg = { .comm = "xsrv-priv", .names = { "privsrv" } };
        struct cli_cfg ccfg = { .comm = "xcli-nobody", .uid = NOBODY };
        struct ctl_how nobody = { .uid = NOBODY };
        char why[256], want[2048], obj[1024], start[64];
        struct srv srv;
        struct proc cli;
        struct ctl c;
        uint32_t cid;

        if (!nobody_can_reach(why, sizeof(why))) {
                fprintf(stderr, "SKIP peers_and_monitor_need_privilege: %s\n", why);
                return;
        }
        srv_start(&srv, &scfg);

        /* Denied, with a message, for another user... */
        CTL_HOW(&c, &nobody, "peers");
        EXPECT_EXIT(&c, 1);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "access denied");
        CTL_HOW(&c, &nobody, "--json", "peers");
        EXPECT_EXIT(&c, 1);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "access denied");
        CTL_HOW(&c, &nobody, "monitor");
        EXPECT_EXIT(&c, 1);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "access denied");
        CTL_HOW(&c, &nobody, "--json", "monitor", "privsrv");
        EXPECT_EXIT(&c, 1);
        EXPECT_CONTAINS(c.err, "access denied");
        CTL_HOW(&c, &nobody, "capture");
        EXPECT_EXIT(&c, 1);
        EXPECT_STREQ(c.out, "");        /* not even the pcapng header */
        EXPECT_CONTAINS(c.err, "access denied");

        /* ...who still sees status, list and show. */
        CTL_HOW(&c, &nobody, "--json", "status");
        EXPECT_EXIT(&c, 0);
        EXPECT_EQ(json_u64(c.out, "names"), 1);
        EXPECT_EQ(json_u64(c.out, "pid"), harness_daemon_pid());
        CTL_HOW(&c, &nobody, "--json", "list");
        EXPECT_EXIT(&c, 0);
        list_obj(obj, sizeof(obj), "privsrv", srv.hex[0], srv.p.pid, "xsrv-priv", 0, 0, 0, 0);
        snprintf(want, sizeof(want), "{\"names\":[%s]}\n", obj);
        EXPECT_STREQ(c.out, want);
        CTL_HOW(&c, &nobody, "show", "privsrv");
        EXPECT_EXIT(&c, 0);
        human_field(c.out, "sid", obj, sizeof(obj));
        EXPECT_STREQ(obj, srv.hex[0]);
        CTL_HOW(&c, &nobody, "call", "privsrv", "1", "9");
        EXPECT_EXIT(&c, 0);
        EXPECT_STREQ(c.out, "10\n");

        /* Root sees the other user's process with its uid. */
        cli_start(&cli, &ccfg);
        cid = cli_connect(&cli, "privsrv");
        CTL_OK(&c, "--json", "peers");
        snprintf(start, sizeof(start), "{\"pid\":%d,", (int)cli.pid);
        object_text(c.out, start, obj, sizeof(obj));
        EXPECT_EQ(json_u64(obj, "uid"), NOBODY);
        snprintf(start, sizeof(start), "{\"pid\":%d,", (int)srv.p.pid);
        object_text(c.out, start, obj, sizeof(obj));
        EXPECT_EQ(json_u64(obj, "uid"), 0);
        srv_quit(&srv, &cli, cid);
        cli_exit(&cli);
}
END_TEST

/* --- show ----------------------------------------------------------------- */

static void expect_show(const struct srv *srv, unsigned conns, unsigned queued, unsigned stalled, unsigned receivers,
                        unsigned served, const pid_t *clients, size_t n_clients) {
        char want[2048], got[2048], list[256] = "", human[256] = "";
        size_t ll = 0, hl = 0;
        struct ctl c;

        for (size_t i = 0; i < n_clients; i++) {
                ll += (size_t)snprintf(list + ll, sizeof(list) - ll, "%s%d", i ? "," : "", (int)clients[i]);
                hl += (size_t)snprintf(human + hl, sizeof(human) - hl, "%s%d", i ? " " : "", (int)clients[i]);
        }
        CTL_OK(&c, "--json", "show", "shown");
        snprintf(want, sizeof(want),
                 "{\"name\":\"shown\",\"host\":\"\",\"sid\":\"%s\",\"pid\":%d,\"command\":\"xsrv-show\",\"conns\":%u,"
                 "\"max_conns\":0,\"queue_depth\":%u,\"queued\":%u,\"served\":%u,\"stalled\":%u,\"receivers\":%u,"
                 "\"clients\":[%s]}\n",
                 srv->hex[0], (int)srv->p.pid, conns, DEPTH, queued, served, stalled, receivers, list);
        EXPECT_STREQ(c.out, want);

        CTL_OK(&c, "show", "shown");
        squeeze(c.out, got, sizeof(got));
        snprintf(want, sizeof(want),
                 "name: shown\nsid: %s\npid: %d\ncommand: xsrv-show\nconnections: %u/-\nqueue: %u/%u\n"
                 "stalled senders: %u\nwaiting receivers: %u\nserved: %u\nclients: %s\n",
                 srv->hex[0], (int)srv->p.pid, conns, queued, DEPTH, stalled, receivers, served,
                 n_clients ? human : "-");
        EXPECT_STREQ(got, want);
}

START_TEST(show_one_name) {
        struct srv_cfg scfg = { .comm = "xsrv-show", .names = { "shown" }, .gated = true, .report = true };
        struct cli_cfg c1cfg = { .comm = "xcli-show1" }, c2cfg = { .comm = "xcli-show2" };
        char name64[65];
        struct srv srv;
        struct proc c1, c2;
        struct ctl c;
        uint32_t cid1, cid2;
        pid_t both[2], second[1];

        srv_start(&srv, &scfg);
        expect_show(&srv, 0, 0, 0, 0, 0, NULL, 0);
        cli_start(&c1, &c1cfg);
        cli_start(&c2, &c2cfg);
        cid1 = cli_connect(&c1, "shown");
        cid2 = cli_connect(&c2, "shown");
        both[0] = c1.pid;
        both[1] = c2.pid;
        expect_show(&srv, 2, 0, 0, 0, 0, both, 2);

        /* The server waits in receive: one waiting receiver. */
        proc_send_u32(&srv.p, 1);
        wait_show_field("shown", "receivers", 1);
        expect_show(&srv, 2, 0, 0, 1, 0, both, 2);
        EXPECT_OK(cli_do(&c1, CLI_SCALAR, cid1, OP_NOTE, 1, 0, 0, 0).err);
        EXPECT_EQ(srv_seen(&srv).sender, c1.pid);
        wait_show_field("shown", "served", 1);

        /* The queue full and a sender stalled behind it. */
        for (uint32_t i = 0; i < DEPTH; i++)
                EXPECT_OK(cli_do(&c1, CLI_TRY_SCALAR, cid1, OP_NOTE, i, 0, 0, 0).err);
        EXPECT_EQ(cli_do(&c1, CLI_TRY_SCALAR, cid1, OP_NOTE, 99, 0, 0, 0).err, XOUS_ERR_SERVER_QUEUE_FULL);
        cli_post(&c2, CLI_SCALAR, cid2, OP_NOTE, 100, 0, 0, 0);
        wait_show_field("shown", "stalled", 1);
        expect_show(&srv, 2, DEPTH, 1, 0, 1, both, 2);

        /* Drained: the stalled one went through. */
        proc_send_u32(&srv.p, DEPTH + 1);
        for (uint32_t i = 0; i < DEPTH; i++)
                EXPECT_EQ(srv_seen(&srv).a[0], i);
        EXPECT_EQ(srv_seen(&srv).a[0], 100);
        EXPECT_OK(cli_result(&c2).err);
        expect_show(&srv, 2, 0, 0, 0, DEPTH + 2, both, 2);

        /* A client that is gone holds no connection any more. */
        cli_exit(&c1);
        second[0] = c2.pid;
        expect_show(&srv, 2, 0, 0, 0, DEPTH + 2, second, 1);

        /* Unknown name: exit 1, said on stderr; invalid name: exit 2. */
        CTL(&c, "show", "nosuch");
        EXPECT_EXIT(&c, 1);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "'nosuch'");
        CTL(&c, "--json", "show", "nosuch");
        EXPECT_EXIT(&c, 1);
        EXPECT_STREQ(c.out, "");
        memset(name64, 'n', 64);
        name64[64] = 0;
        CTL(&c, "show", name64);
        EXPECT_EXIT(&c, 2);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "not a valid server name");
        name64[63] = 0;         /* 63 bytes is valid, just not there */
        CTL(&c, "show", name64);
        EXPECT_EXIT(&c, 1);
        CTL(&c, "show");
        EXPECT_EXIT(&c, 2);
        CTL(&c, "show", "shown", "shown");
        EXPECT_EXIT(&c, 2);

        cli_exit(&c2);
        proc_send_u32(&srv.p, SRV_EXIT);
        proc_wait_exit(&srv.p, 0);
}
END_TEST

/* --- command names the kernel cut inside a character ---------------------- */

/* 18 and 16 bytes of UTF-8 that the kernel keeps 15 bytes of: the last é
 * loses its second byte, the last € its third. */
#define CUT_SRV_COMM "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
#define CUT_SRV_KERNEL "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
#define CUT_SRV_SHOWN "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
#define CUT_CLI_COMM "x\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
#define CUT_CLI_KERNEL "x\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82"
#define CUT_CLI_SHOWN "x\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"

/* The process's command name as the kernel keeps it, without the newline. */
static void proc_comm(pid_t pid, char *buf, size_t size) {
        char path[64];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        EXPECT_MSG(fd >= 0, "%s: %s", path, strerror(errno));
        n = read(fd, buf, size - 1);
        close(fd);
        EXPECT(n > 0);
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
}

/* `xnsctl --json cmd [arg]`, which must parse (jansson rejects invalid UTF-8). */
static json_t *ctl_json(const char *cmd, const char *arg) {
        json_error_t error;
        struct ctl c;
        json_t *j;

        CTL_OK(&c, "--json", cmd, arg);
        j = json_loads(c.out, 0, &error);
        EXPECT_MSG(j, "'xnsctl %s' printed no valid JSON: %s at byte %d: '%s'", c.cmdline, error.text,
                   error.position, c.out);
        return j;
}

static const char *json_command(json_t *obj) {
        const char *s = json_string_value(json_object_get(obj, "command"));

        return s ? s : "(no command)";
}

/* The object of --json peers for pid. */
static json_t *peer_by_pid(json_t *peers, pid_t pid) {
        json_t *p;
        size_t i;

        json_array_foreach(json_object_get(peers, "peers"), i, p)
                if (json_integer_value(json_object_get(p, "pid")) == pid)
                        return p;
        harness_fail_at(__FILE__, __LINE__, "no peer %d in --json peers", (int)pid);
}

START_TEST(json_command_cut_inside_utf8) {
        struct srv_cfg scfg = { .comm = CUT_SRV_COMM, .names = { "cutsrv" } };
        struct cli_cfg ccfg = { .comm = CUT_CLI_COMM };
        char comm[32], want[256], row[256];
        struct srv srv;
        struct proc cli;
        struct ctl c;
        json_t *j;
        uint32_t cid;

        srv_start(&srv, &scfg);
        cli_start(&cli, &ccfg);
        cid = cli_connect(&cli, "cutsrv");
        /* What this test is about: the kernel cut both names mid-character. */
        proc_comm(srv.p.pid, comm, sizeof(comm));
        EXPECT_STREQ(comm, CUT_SRV_KERNEL);
        proc_comm(cli.pid, comm, sizeof(comm));
        EXPECT_STREQ(comm, CUT_CLI_KERNEL);

        /* Every --json output that names a command parses, names cut there. */
        j = ctl_json("list", NULL);
        EXPECT_STREQ(json_command(json_array_get(json_object_get(j, "names"), 0)), CUT_SRV_SHOWN);
        json_decref(j);
        j = ctl_json("show", "cutsrv");
        EXPECT_STREQ(json_command(j), CUT_SRV_SHOWN);
        json_decref(j);
        j = ctl_json("peers", NULL);
        EXPECT_STREQ(json_command(peer_by_pid(j, srv.p.pid)), CUT_SRV_SHOWN);
        EXPECT_STREQ(json_command(peer_by_pid(j, cli.pid)), CUT_CLI_SHOWN);
        json_decref(j);
        /* The cut is xnsd's: the plain table shows the same. */
        CTL_OK(&c, "peers");
        snprintf(want, sizeof(want), "%d", (int)srv.p.pid);
        table_row(c.out, want, row, sizeof(row));
        snprintf(want, sizeof(want), "%d 0 - %s 1 0 cutsrv -", (int)srv.p.pid, CUT_SRV_SHOWN);
        EXPECT_STREQ(row, want);

        srv_quit(&srv, &cli, cid);
        cli_exit(&cli);
}
END_TEST

/* --- monitor -------------------------------------------------------------- */

/* Sends probes to the server behind cid until b prints one (the monitor is
 * subscribed from then on). */
static void monitor_wait_live(struct bg *b, struct proc *cli, uint32_t cid, bool json) {
        char needle[64], line[1024];

        for (uint32_t i = 0; i < 100; i++) {
                struct cli_res r = cli_do(cli, CLI_BSCALAR, cid, OP_PROBE, 5000 + i, 0, 0, 0);

                EXPECT_OK(r.err);
                if (json)
                        snprintf(needle, sizeof(needle), "\"id\":%u,\"args\":[%u,", OP_PROBE, 5000 + i);
                else
                        snprintf(needle, sizeof(needle), "#%u (%u,", OP_PROBE, 5000 + i);
                if (bg_wait_line_for(b, needle, line, sizeof(line), 100))
                        return;
        }
        harness_fail_at(__FILE__, __LINE__, "'xnsctl %s' showed none of 100 probes\nstdout: '%s'\nstderr: '%s'",
                        b->cmdline, b->buf, b->ebuf);
}

static uint64_t realtime_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Checks a human monitor line: a local time of day near now, then want
 * (blanks squeezed), then the latency, which is returned. */
static unsigned human_event(const char *line, const char *want) {
        char rest[1024];
        unsigned h, m, s, us, lat;
        time_t now = time(NULL);
        struct tm tm;
        int n = 0, diff;
        char *tail;

        EXPECT_MSG(sscanf(line, "%2u:%2u:%2u.%6u%n", &h, &m, &s, &us, &n) == 4 && n == 15,
                   "no time at the start of '%s'", line);
        localtime_r(&now, &tm);
        diff = abs((int)(h * 3600 + m * 60 + s) - (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec));
        EXPECT_MSG(diff <= 10 || diff >= 86400 - 10, "time of '%s' is %d s off", line, diff);
        squeeze(line + n, rest, sizeof(rest));
        tail = strrchr(rest, ' ');
        EXPECT_MSG(tail && strcmp(tail, " us") == 0, "no latency at the end of '%s'", line);
        *tail = 0;
        tail = strrchr(rest, ' ');
        EXPECT_MSG(tail && sscanf(tail, " %u%n", &lat, &n) == 1 && tail[n] == 0, "bad latency in '%s'", line);
        *tail = 0;
        EXPECT_STREQ(rest[0] == ' ' ? rest + 1 : rest, want);
        return lat;
}

/* Checks a JSON monitor line: time between t0 and now, then exactly the
 * fields given; returns latency_us. */
static unsigned json_event(const char *line, uint64_t t0, pid_t pid, const char *server, const char *kind, uint32_t id,
                           const uint32_t a[4], uint32_t len, const char *result, const char *reply) {
        unsigned long long t = json_u64(line, "time_us"), lat = json_u64(line, "latency_us");
        char want[1024];

        EXPECT_MSG(t >= t0 && t <= realtime_us(), "time_us %llu not in [%llu, now]", t, (unsigned long long)t0);
        snprintf(want, sizeof(want),
                 "{\"time_us\":%llu,\"pid\":%d,\"host\":\"\",\"server\":\"%s\",\"kind\":\"%s\",\"id\":%u,\"args\":[%u,%u,%u,%u],"
                 "\"len\":%u,\"result\":\"%s\",\"reply\":[%s],\"latency_us\":%llu,\"dropped\":0}",
                 t, (int)pid, server, kind, id, a[0], a[1], a[2], a[3], len, result, reply, lat);
        EXPECT_STREQ(line, want);
        return (unsigned)lat;
}

START_TEST(monitor_traces_messages) {
        struct srv_cfg mcfg = { .comm = "xsrv-mon", .names = { "mon" } };
        struct srv_cfg ocfg = { .comm = "xsrv-other", .names = { "other" } };
        struct cli_cfg ccfg = { .comm = "xcli-mon" };
        const uint32_t zero[4] = { 0 };
        char line[1024], want[512];
        struct srv mon, other;
        struct bg all, only;
        struct proc cli;
        struct cli_res r;
        uint32_t cid, ocid;
        uint64_t t0 = realtime_us(), stop_ms;
        pid_t p;

        srv_start(&mon, &mcfg);
        srv_start(&other, &ocfg);
        cli_start(&cli, &ccfg);
        p = cli.pid;
        cid = cli_connect(&cli, "mon");
        ocid = cli_connect(&cli, "other");

        bg_start(&all, ARGS("monitor"));
        bg_start(&only, ARGS("--json", "monitor", "mon"));
        bg_wait_stderr(&all, "Monitoring every message");
        monitor_wait_live(&all, &cli, cid, false);
        monitor_wait_live(&only, &cli, cid, true);

        /* A scalar: delivered, no reply. */
        EXPECT_OK(cli_do(&cli, CLI_SCALAR, cid, 17, 1, 2, 3, 4).err);
        /* BlockingScalars with one, two and five words of reply. */
        r = cli_do(&cli, CLI_BSCALAR, cid, OP_ADD1, 41, 0, 0, 0);
        EXPECT_EQ(r.reply.v[0], 42);
        r = cli_do(&cli, CLI_BSCALAR, cid, OP_PAIR, 10, 20, 30, 40);
        EXPECT_EQ(r.reply.count, 2);
        r = cli_do(&cli, CLI_BSCALAR, cid, OP_FIVE, 1, 2, 3, 0xffffffffu);
        EXPECT_EQ(r.reply.count, 5);
        /* One the server drops unanswered. */
        EXPECT_EQ(cli_do(&cli, CLI_BSCALAR, cid, OP_DROP, 6, 0, 0, 0).err, XOUS_ERR_INTERNAL_ERROR);
        /* A lend_mut of two pages, half of it returned valid. */
        r = cli_lend_mut(&cli, cid, OP_FILL, 2 * PAGE);
        EXPECT_OK(r.err);
        EXPECT_EQ(r.valid, PAGE);
        /* A slow answer: the latency shows it. */
        EXPECT_EQ(cli_do(&cli, CLI_BSCALAR, cid, OP_SLOW, 3, 0, 0, 0).reply.v[0], 3);
        /* To a name outside the filter, then one more inside it. */
        EXPECT_EQ(cli_do(&cli, CLI_BSCALAR, ocid, OP_ADD1, 700, 0, 0, 0).reply.v[0], 701);
        EXPECT_EQ(cli_do(&cli, CLI_BSCALAR, cid, OP_ADD1, 800, 0, 0, 0).reply.v[0], 801);

        /* The human monitor, every name. */
        bg_wait_line(&all, "scalar #17 ", line, sizeof(line));
        snprintf(want, sizeof(want), "%d -> mon scalar #17 (1, 2, 3, 4) -> ok", (int)p);
        human_event(line, want);
        bg_wait_line(&all, "#1 (41,", line, sizeof(line));
        snprintf(want, sizeof(want), "%d -> mon blocking_scalar #1 (41, 0, 0, 0) -> 42", (int)p);
        human_event(line, want);
        bg_wait_line(&all, "#2 (10,", line, sizeof(line));
        snprintf(want, sizeof(want), "%d -> mon blocking_scalar #2 (10, 20, 30, 40) -> 30 70", (int)p);
        human_event(line, want);
        bg_wait_line(&all, "#5 (1,", line, sizeof(line));
        snprintf(want, sizeof(want), "%d -> mon blocking_scalar #5 (1, 2, 3, 4294967295) -> 1 2 3 4294967295 5",
                 (int)p);
        human_event(line, want);
        bg_wait_line(&all, "#6 (6,", line, sizeof(line));
        snprintf(want, sizeof(want), "%d -> mon blocking_scalar #6 (6, 0, 0, 0) -> INTERNAL_ERROR", (int)p);
        human_event(line, want);
        bg_wait_line(&all, "mutable_borrow", line, sizeof(line));
        snprintf(want, sizeof(want), "%d -> mon mutable_borrow #9 [%u bytes] -> ok", (int)p, 2 * PAGE);
        human_event(line, want);
        bg_wait_line(&all, "#8 (3,", line, sizeof(line));
        snprintf(want, sizeof(want), "%d -> mon blocking_scalar #8 (3, 0, 0, 0) -> 3", (int)p);
        EXPECT_MSG(human_event(line, want) >= SLOW_MS * 1000, "latency of a %d ms answer: %s", SLOW_MS, line);
        bg_wait_line(&all, "#1 (700,", line, sizeof(line));
        snprintf(want, sizeof(want), "%d -> other blocking_scalar #1 (700, 0, 0, 0) -> 701", (int)p);
        human_event(line, want);
        bg_wait_line(&all, "#1 (800,", line, sizeof(line));
        /* Nothing else: one line per message, the probes aside. */
        snprintf(want, sizeof(want), "#%u (", OP_PROBE);
        EXPECT_MSG(count_lines(all.buf) == count_str(all.buf, want) + 9, "monitor: %s", all.buf);

        /* The JSON monitor of "mon" only. */
        bg_wait_line(&only, "\"id\":17,", line, sizeof(line));
        json_event(line, t0, p, "mon", "scalar", 17, (const uint32_t[4]){ 1, 2, 3, 4 }, 0, "ok", "");
        bg_wait_line(&only, "\"args\":[41,", line, sizeof(line));
        json_event(line, t0, p, "mon", "blocking_scalar", OP_ADD1, (const uint32_t[4]){ 41 }, 0, "ok", "42");
        bg_wait_line(&only, "\"args\":[10,", line, sizeof(line));
        json_event(line, t0, p, "mon", "blocking_scalar", OP_PAIR, (const uint32_t[4]){ 10, 20, 30, 40 }, 0, "ok",
                   "30,70");
        bg_wait_line(&only, "\"id\":5,", line, sizeof(line));
        json_event(line, t0, p, "mon", "blocking_scalar", OP_FIVE, (const uint32_t[4]){ 1, 2, 3, 0xffffffffu }, 0,
                   "ok", "1,2,3,4294967295,5");
        bg_wait_line(&only, "\"id\":6,", line, sizeof(line));
        json_event(line, t0, p, "mon", "blocking_scalar", OP_DROP, (const uint32_t[4]){ 6 }, 0, "INTERNAL_ERROR", "");
        bg_wait_line(&only, "\"id\":9,", line, sizeof(line));
        json_event(line, t0, p, "mon", "mutable_borrow", OP_FILL, zero, 2 * PAGE, "ok", "");
        bg_wait_line(&only, "\"id\":8,", line, sizeof(line));
        EXPECT(json_event(line, t0, p, "mon", "blocking_scalar", OP_SLOW, (const uint32_t[4]){ 3 }, 0, "ok", "3") >=
               SLOW_MS * 1000);
        bg_wait_line(&only, "\"args\":[800,", line, sizeof(line));
        /* The message to "other" came before that last one: it was filtered out. */
        EXPECT_MSG(!strstr(only.buf, "\"server\":\"other\"") && !strstr(only.buf, "\"args\":[700,"),
                   "filtered monitor: %s", only.buf);
        snprintf(want, sizeof(want), "\"id\":%u,", OP_PROBE);
        EXPECT_MSG(count_lines(only.buf) == count_str(only.buf, want) + 8, "filtered monitor: %s", only.buf);
        EXPECT_STREQ(only.ebuf, "");

        /* Ctrl-C ends both at once, with success. */
        stop_ms = now_ms();
        EXPECT_EQ(bg_finish(&all, SIGINT, 2000), 0);
        EXPECT_EQ(bg_finish(&only, SIGINT, 2000), 0);
        EXPECT_MSG(now_ms() - stop_ms < 2000, "monitors took %llu ms to end",
                   (unsigned long long)(now_ms() - stop_ms));
        EXPECT_STREQ(all.ebuf, "Monitoring every message; Ctrl-C ends.\n");
        srv_quit(&other, &cli, ocid);
        srv_quit(&mon, &cli, cid);
        cli_exit(&cli);
}
END_TEST

#define HOLD_LIMIT_MS 100

/* A monitor's link of its own, on the wire: Control {Monitor, payloads}. */
static int raw_monitor_start(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct xns_request req = { .op = XNS_OP_CONTROL, .seq = 1,
                                   .control = { .what = XNS_CONTROL_MONITOR, .payloads = 1 } };
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_reply reply;
        int sock, fd = -1;
        ssize_t n;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", harness_socket_path());
        sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        EXPECT(sock >= 0 && connect(sock, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        n = xns_request_encode(&req, buf, sizeof(buf));
        EXPECT(n > 0 && xns_frame_send(sock, buf, (size_t)n, -1, false) == 0);
        n = xns_frame_recv(sock, buf, sizeof(buf), &fd, false);
        EXPECT(n > 0 && xns_reply_decode(&reply, buf, (size_t)n) == 0);
        EXPECT_MSG(reply.seq == 1 && reply.error == XNS_OK && fd < 0, "monitor start: seq %u, error %u",
                   reply.seq, reply.error);
        return sock;
}

/* The next event of kind on a raw monitor link, and the descriptor beside it. */
static struct xns_event raw_monitor_event(int sock, uint32_t kind, int *fd) {
        for (;;) {
                uint8_t buf[XNS_FRAME_MAX];
                struct xns_reply reply;
                struct pollfd p = { .fd = sock, .events = POLLIN };
                ssize_t n;

                *fd = -1;
                EXPECT_MSG(poll(&p, 1, 5000) == 1, "no monitor event of kind %u in 5 s", kind);
                n = xns_frame_recv(sock, buf, sizeof(buf), fd, false);
                EXPECT(n > 0 && xns_reply_decode(&reply, buf, (size_t)n) == 0 && reply.body == XNS_BODY_EVENT);
                if (reply.event.kind == kind)
                        return reply.event;
                if (*fd >= 0)
                        close(*fd);
        }
}

/* A monitor with payloads reads a MutableBorrow's memory through a
 * read-only descriptor: no write into the caller's buffer by mistake. */
START_TEST(monitor_payloads_are_read_only) {
        struct srv_cfg cfg = { .comm = "xsrv-pay", .names = { "pay" } };
        struct cli_cfg ccfg = { .comm = "xcli-pay" };
        struct xns_event e;
        struct srv srv;
        struct proc cli;
        uint8_t byte = 0;
        uint32_t cid;
        int mon, fd;

        srv_start(&srv, &cfg);
        cli_start(&cli, &ccfg);
        cid = cli_connect(&cli, "pay");
        mon = raw_monitor_start();

        EXPECT_OK(cli_lend_mut(&cli, cid, OP_FILL, 2 * PAGE).err);
        e = raw_monitor_event(mon, XOUS_MSG_MUTABLE_BORROW, &fd);
        EXPECT_MSG(e.id == OP_FILL && e.len == 2 * PAGE, "event id %u len %u", e.id, e.len);
        EXPECT_MSG(fd >= 0, "no memfd beside the MutableBorrow's event");
        EXPECT_MSG((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY, "the monitor's memfd is not read-only: flags %#x",
                   fcntl(fd, F_GETFL));
        EXPECT(pread(fd, &byte, 1, 0) == 1);
        EXPECT_MSG(pwrite(fd, &byte, 1, 0) < 0 && errno == EBADF, "the monitor wrote into the caller's buffer");
        EXPECT(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EACCES);
        close(fd);

        close(mon);
        srv_quit(&srv, &cli, cid);
        cli_exit(&cli);
}
END_TEST

/* A call whose caller gave up shows once, when it gives up: TIMEOUT, with
 * the time it waited; the server's late answer shows nothing. */
START_TEST(monitor_shows_timeout) {
        struct srv_cfg scfg = { .comm = "xsrv-mto", .names = { "mto" } };
        struct cli_cfg ccfg = { .comm = "xcli-mto" };
        struct cli_cmd cmd = { .op = CLI_BSCALAR_TIMEOUT, .id = OP_HOLD, .a = { 31 }, .len = HOLD_LIMIT_MS };
        uint64_t t0 = realtime_us();
        char line[1024], want[256];
        struct bg mon, js;
        struct proc cli;
        struct srv srv;
        uint32_t cid;

        srv_start(&srv, &scfg);
        cli_start(&cli, &ccfg);
        cid = cli_connect(&cli, "mto");
        bg_start(&mon, ARGS("monitor"));
        bg_start(&js, ARGS("--json", "monitor", "mto"));
        bg_wait_stderr(&mon, "Monitoring every message");
        monitor_wait_live(&mon, &cli, cid, false);
        monitor_wait_live(&js, &cli, cid, true);

        cmd.cid = cid;
        proc_send(&cli, &cmd, sizeof(cmd));
        EXPECT_EQ(srv_seen(&srv).id, OP_HOLD);          /* the server holds it */
        EXPECT_EQ(cli_result(&cli).err, XOUS_ERR_TIMEOUT);
        bg_wait_line(&mon, "#7 (31,", line, sizeof(line));
        snprintf(want, sizeof(want), "%d -> mto blocking_scalar #7 (31, 0, 0, 0) -> TIMEOUT", (int)cli.pid);
        EXPECT_MSG(human_event(line, want) >= HOLD_LIMIT_MS * 1000, "latency of a %d ms limit: %s", HOLD_LIMIT_MS,
                   line);
        bg_wait_line(&js, "\"args\":[31,", line, sizeof(line));
        EXPECT(json_event(line, t0, cli.pid, "mto", "blocking_scalar", OP_HOLD, (const uint32_t[4]){ 31 }, 0,
                          "TIMEOUT", "") >= HOLD_LIMIT_MS * 1000);

        /* The answer comes late, to no one; the server then answers the
         * next call, whose line comes after anything the late one made. */
        proc_send_u32(&srv.p, 32);
        EXPECT_EQ(cli_do(&cli, CLI_BSCALAR, cid, OP_ADD1, 800, 0, 0, 0).reply.v[0], 801);
        bg_wait_line(&mon, "#1 (800,", line, sizeof(line));
        bg_wait_line(&js, "\"args\":[800,", line, sizeof(line));
        EXPECT_MSG(count_str(mon.buf, "#7 (31,") == 1, "monitor: %s", mon.buf);
        EXPECT_MSG(count_str(js.buf, "\"args\":[31,") == 1, "JSON monitor: %s", js.buf);
        EXPECT_EQ(bg_finish(&mon, SIGINT, 2000), 0);
        EXPECT_EQ(bg_finish(&js, SIGINT, 2000), 0);
        srv_quit(&srv, &cli, cid);
        cli_exit(&cli);
}
END_TEST

/* Messages from xnsctl call show up with its pid; monitor SIGTERM is clean too. */
START_TEST(monitor_sees_xnsctl_call) {
        struct srv_cfg scfg = { .comm = "xsrv-mcall", .names = { "mcall" } };
        struct cli_cfg ccfg = { .comm = "xcli-mcall" };
        char line[1024], want[256];
        struct srv srv;
        struct proc cli;
        struct bg mon;
        struct ctl c;
        uint32_t cid;

        srv_start(&srv, &scfg);
        cli_start(&cli, &ccfg);
        cid = cli_connect(&cli, "mcall");
        bg_start(&mon, ARGS("monitor", "mcall", "nosuchname"));
        bg_wait_stderr(&mon, "Monitoring the names given");
        monitor_wait_live(&mon, &cli, cid, false);
        CTL_OK(&c, "call", "mcall", "2", "0x10", "1", "2", "3");
        EXPECT_STREQ(c.out, "17 5\n");
        bg_wait_line(&mon, "#2 (16,", line, sizeof(line));
        snprintf(want, sizeof(want), "%d -> mcall blocking_scalar #2 (16, 1, 2, 3) -> 17 5", (int)c.pid);
        human_event(line, want);
        EXPECT_EQ(bg_finish(&mon, SIGTERM, 2000), 0);
        srv_quit(&srv, &cli, cid);
        cli_exit(&cli);
}
END_TEST

/* xnsd stops: a monitor ends with 3, and so does a call blocked in it. */
START_TEST(daemon_stop_ends_monitor_and_call) {
        struct srv_cfg scfg = { .comm = "xsrv-stop", .names = { "stopsrv" } };
        struct cli_cfg ccfg = { .comm = "xcli-stop" };
        struct srv srv;
        struct proc cli;
        struct bg mon, call;
        struct seen s;
        uint32_t cid;

        srv_start(&srv, &scfg);
        cli_start(&cli, &ccfg);
        cid = cli_connect(&cli, "stopsrv");
        bg_start(&mon, ARGS("monitor"));
        bg_wait_stderr(&mon, "Monitoring every message");
        monitor_wait_live(&mon, &cli, cid, false);
        bg_start(&call, ARGS("call", "stopsrv", "7", "1"));
        s = srv_seen(&srv);                     /* the call is held: xnsctl waits */
        EXPECT_EQ(s.id, OP_HOLD);
        EXPECT_EQ(s.sender, call.pid);

        harness_daemon_kill(SIGTERM);
        EXPECT_EQ(bg_finish(&call, 0, 5000), 3);
        EXPECT_STREQ(call.buf, "");
        EXPECT_CONTAINS(call.ebuf, "cannot reach xnsd");
        EXPECT_EQ(bg_finish(&mon, 0, 5000), 3);
        EXPECT_CONTAINS(mon.ebuf, "closed the connection");
        proc_kill(&srv.p);
        proc_kill(&cli);
}
END_TEST

/* --- call ----------------------------------------------------------------- */

START_TEST(call_sends_and_prints) {
        struct srv_cfg scfg = { .comm = "xsrv-call", .names = { "calc" }, .report = true };
        struct cli_cfg ccfg = { .comm = "xcli-call" };
        static const char *const bad[] = { "abc", "-1", "+1", "4294967296", "", "0x", "1.5", "12abc",
                                           "99999999999999999999" };
        struct srv srv;
        struct proc cli;
        struct ctl c;
        struct seen s;
        uint32_t cid;

        srv_start(&srv, &scfg);

        CTL_OK(&c, "call", "calc", "1", "41");
        EXPECT_STREQ(c.out, "42\n");
        s = srv_seen(&srv);
        EXPECT_EQ(s.kind, XOUS_MSG_BLOCKING_SCALAR);
        EXPECT_EQ(s.id, OP_ADD1);
        EXPECT_EQ(s.a[0], 41);
        EXPECT_EQ(s.sender, c.pid);

        CTL_OK(&c, "call", "calc", "2", "10", "20", "30", "40");
        EXPECT_STREQ(c.out, "30 70\n");
        EXPECT_EQ(srv_seen(&srv).a[3], 40);
        CTL_OK(&c, "call", "calc", "0x5", "1", "0x2", "3", "4294967295");
        EXPECT_STREQ(c.out, "1 2 3 4294967295 5\n");
        EXPECT_EQ(srv_seen(&srv).id, OP_FIVE);
        CTL_OK(&c, "call", "calc", "1");               /* missing args are 0 */
        EXPECT_STREQ(c.out, "1\n");
        EXPECT_EQ(srv_seen(&srv).a[0], 0);

        CTL_OK(&c, "--json", "call", "calc", "2", "1", "2", "3", "4");
        EXPECT_STREQ(c.out, "{\"name\":\"calc\",\"id\":2,\"kind\":\"blocking_scalar\",\"reply\":[3,7]}\n");
        srv_seen(&srv);
        CTL_OK(&c, "call", "calc", "1", "7", "--json");
        EXPECT_STREQ(c.out, "{\"name\":\"calc\",\"id\":1,\"kind\":\"blocking_scalar\",\"reply\":[8]}\n");
        srv_seen(&srv);

        /* -n: a Scalar, nothing printed; the server gets it all the same. */
        CTL_OK(&c, "-n", "call", "calc", "3", "7", "8", "9", "10");
        EXPECT_STREQ(c.out, "");
        s = srv_seen(&srv);
        EXPECT_EQ(s.kind, XOUS_MSG_SCALAR);
        EXPECT_EQ(s.id, OP_NOTE);
        EXPECT_EQ(s.a[0], 7);
        EXPECT_EQ(s.a[3], 10);
        EXPECT_EQ(s.sender, c.pid);
        CTL_OK(&c, "--no-reply", "--json", "call", "calc", "3", "1");
        EXPECT_STREQ(c.out, "{\"name\":\"calc\",\"id\":3,\"kind\":\"scalar\",\"reply\":[]}\n");
        EXPECT_EQ(srv_seen(&srv).kind, XOUS_MSG_SCALAR);

        /* A server that drops the call: exit 1, the error named. */
        CTL(&c, "call", "calc", "6");
        EXPECT_EXIT(&c, 1);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "INTERNAL_ERROR");
        EXPECT_EQ(srv_seen(&srv).id, OP_DROP);

        /* Unknown name. */
        CTL(&c, "call", "nosuch", "1");
        EXPECT_EXIT(&c, 1);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "'nosuch'");

        /* Bad numbers, as opcode or argument; wrong argument counts. */
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                /* "-1" reads as an option unless "--" comes first: 2 either way. */
                CTL(&c, "call", "calc", bad[i]);
                EXPECT_EXIT(&c, 2);
                EXPECT_STREQ(c.out, "");
                if (bad[i][0] != '-')
                        EXPECT_CONTAINS(c.err, "not a 32-bit unsigned number");
                CTL(&c, "call", "calc", "1", "2", bad[i]);
                EXPECT_EXIT(&c, 2);
                EXPECT_STREQ(c.out, "");
                CTL(&c, "call", "--", "calc", "1", "2", bad[i]);
                EXPECT_EXIT(&c, 2);
                EXPECT_CONTAINS(c.err, "not a 32-bit unsigned number");
                CTL(&c, "call", "--", "calc", bad[i]);
                EXPECT_EXIT(&c, 2);
                EXPECT_CONTAINS(c.err, "opcode");
        }
        CTL(&c, "call", "calc", "1", "1", "2", "3", "4", "5");
        EXPECT_EXIT(&c, 2);
        EXPECT_CONTAINS(c.err, "at most 4");
        CTL(&c, "call", "calc");
        EXPECT_EXIT(&c, 2);
        CTL(&c, "call");
        EXPECT_EXIT(&c, 2);
        CTL(&c, "--timeout", "0", "call", "calc", "1");
        EXPECT_EXIT(&c, 2);
        CTL(&c, "--timeout", "abc", "call", "calc", "1");
        EXPECT_EXIT(&c, 2);
        /* None of those reached the server: the next message is this one. */
        CTL_OK(&c, "call", "calc", "1", "1000");
        EXPECT_STREQ(c.out, "1001\n");
        EXPECT_EQ(srv_seen(&srv).a[0], 1000);

        /* --timeout against a server that does not answer: exit 1 in time. */
        CTL(&c, "--timeout", "1", "call", "calc", "7");
        EXPECT_EXIT(&c, 1);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "timeout");
        EXPECT_MSG(c.elapsed_ms >= 900 && c.elapsed_ms < 2500, "--timeout 1 took %llu ms",
                   (unsigned long long)c.elapsed_ms);
        EXPECT_EQ(srv_seen(&srv).id, OP_HOLD);
        proc_send_u32(&srv.p, 1);               /* the answer goes nowhere, harmlessly */
        CTL_OK(&c, "-t", "5", "call", "calc", "1", "5");
        EXPECT_STREQ(c.out, "6\n");
        srv_seen(&srv);

        cli_start(&cli, &ccfg);
        cid = cli_connect(&cli, "calc");
        srv_quit(&srv, &cli, cid);
        cli_exit(&cli);
        /* The name is gone with its server. */
        CTL(&c, "call", "calc", "1");
        EXPECT_EXIT(&c, 1);
}
END_TEST

/* --- generic -------------------------------------------------------------- */

START_TEST(usage_and_exit_codes) {
        static const char *const commands[] = { "status", "list", "peers", "show NAME", "monitor [NAME]",
                                                "call NAME OPCODE", "--socket", "--json", "--no-reply",
                                                "--timeout", "--help", "--version" };
        struct ctl_how env_bad = { .xous_socket = "/nonexistent/xns.sock" };
        char longpath[200], want[64], name64[65];
        struct ctl c;

        CTL(&c, "--bogus");
        EXPECT_EXIT(&c, 2);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "--help");
        CTL(&c, "-x", "status");
        EXPECT_EXIT(&c, 2);
        CTL(&c, "status", "--bogus");
        EXPECT_EXIT(&c, 2);
        CTL(&c, "-s");
        EXPECT_EXIT(&c, 2);

        CTL(&c, "frobnicate");
        EXPECT_EXIT(&c, 2);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "unknown command 'frobnicate'");
        CTL(&c, "--json");
        EXPECT_EXIT(&c, 2);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "no command");
        CTL(&c, "status", "extra");
        EXPECT_EXIT(&c, 2);
        CTL(&c, "list", "extra");
        EXPECT_EXIT(&c, 2);
        CTL(&c, "peers", "extra");
        EXPECT_EXIT(&c, 2);
        memset(name64, 'n', 64);
        name64[64] = 0;
        CTL(&c, "monitor", "ok", name64);
        EXPECT_EXIT(&c, 2);
        EXPECT_CONTAINS(c.err, "not a valid server name");
        CTL(&c, "call", name64, "1");
        EXPECT_EXIT(&c, 2);
        EXPECT_CONTAINS(c.err, "not a valid server name");
        CTL(&c, "monitor", "a", "b", "c", "d", "e", "f", "g", "h", "i");
        EXPECT_EXIT(&c, 2);
        EXPECT_CONTAINS(c.err, "at most 8 names");

        for (int i = 0; i < 2; i++) {
                if (i == 0)
                        CTL_OK(&c, "--help");
                else
                        CTL_OK(&c, "-h", "bogus-command");
                EXPECT_CONTAINS(c.out, "Usage: xnsctl");
                for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
                        EXPECT_CONTAINS(c.out, commands[k]);
        }
        snprintf(want, sizeof(want), "xnsctl %s\n", XNS_VERSION);
        CTL_OK(&c, "--version");
        EXPECT_STREQ(c.out, want);
        CTL_OK(&c, "-V");
        EXPECT_STREQ(c.out, want);

        /* No daemon there: 3 and a message, for every command. */
        CTL(&c, "--socket", "/nonexistent", "status");
        EXPECT_EXIT(&c, 3);
        EXPECT_STREQ(c.out, "");
        EXPECT_CONTAINS(c.err, "cannot reach xnsd at /nonexistent");
        CTL(&c, "-s", "/nonexistent", "--json", "list");
        EXPECT_EXIT(&c, 3);
        EXPECT_STREQ(c.out, "");
        CTL(&c, "peers", "--socket=/nonexistent");
        EXPECT_EXIT(&c, 3);
        CTL(&c, "-s", "/nonexistent", "show", "x");
        EXPECT_EXIT(&c, 3);
        CTL(&c, "-s", "/nonexistent", "monitor");
        EXPECT_EXIT(&c, 3);
        CTL(&c, "-s", "/nonexistent", "call", "x", "1");
        EXPECT_EXIT(&c, 3);
        EXPECT_CONTAINS(c.err, "cannot reach xnsd");
        CTL(&c, "-s", "/nonexistent", "-n", "call", "x", "1");
        EXPECT_EXIT(&c, 3);
        memset(longpath, 'p', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = 0;
        CTL(&c, "-s", longpath, "status");
        EXPECT_EXIT(&c, 2);
        EXPECT_CONTAINS(c.err, "too long");

        /* $XOUS_SOCKET is the default; --socket beats it. */
        CTL_HOW(&c, &env_bad, "status");
        EXPECT_EXIT(&c, 3);
        EXPECT_CONTAINS(c.err, "/nonexistent/xns.sock");
        CTL_HOW(&c, &env_bad, "--socket", harness_socket_path(), "--json", "status");
        EXPECT_EXIT(&c, 0);
        EXPECT_EQ(json_u64(c.out, "pid"), harness_daemon_pid());
        CTL_OK(&c, "--json", "status");
        EXPECT_EQ(json_u64(c.out, "pid"), harness_daemon_pid());

        /* Options after the command. */
        CTL_OK(&c, "list", "--json");
        EXPECT_STREQ(c.out, "{\"names\":[]}\n");
        CTL_OK(&c, "status", "-j");
        EXPECT_EQ(json_u64(c.out, "queue_depth"), DEPTH);
}
END_TEST

int main(void) {
        Suite *s = suite_create("xnsctl");

        harness_add_test(s, status_counts_and_limits, setup_depth, harness_teardown);
        harness_add_test(s, list_shows_names, setup_depth, harness_teardown);
        harness_add_test(s, peers_shows_processes, setup_depth, harness_teardown);
        harness_add_test(s, peers_and_monitor_need_privilege, setup_depth, harness_teardown);
        harness_add_test(s, show_one_name, setup_depth, harness_teardown);
        harness_add_test(s, json_command_cut_inside_utf8, setup_depth, harness_teardown);
        harness_add_test(s, monitor_traces_messages, setup_depth, harness_teardown);
        harness_add_test(s, monitor_payloads_are_read_only, setup_depth, harness_teardown);
        harness_add_test(s, monitor_shows_timeout, setup_depth, harness_teardown);
        harness_add_test(s, monitor_sees_xnsctl_call, setup_depth, harness_teardown);
        harness_add_test(s, daemon_stop_ends_monitor_and_call, setup_depth, harness_teardown);
        harness_add_test(s, call_sends_and_prints, setup_depth, harness_teardown);
        harness_add_test(s, usage_and_exit_codes, setup_depth, harness_teardown);
        return harness_run(s);
}
