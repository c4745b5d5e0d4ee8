/* test-soak.c: a bounded soak (issue 5): one xnsd, several servers and many
 * clients doing a random mix of every kind, random SIGKILLs, and at the end
 * every call accounted for exactly once and the daemon back to its baseline.
 *
 * Meson suite 'soak', part of the default `meson test` run with a short
 * duration; CI runs it longer on its own:
 *
 *     XNS_SOAK_SECONDS=60 meson test -C build --suite soak
 *
 * XNS_SOAK_SECONDS   how long the clients run (default 10)
 * XNS_SOAK_SEED      the random seed (printed at start), to replay a failure
 *
 * Beyond ~200 s add `--timeout-multiplier 0` (meson's timeout is 300 s).
 *
 * What runs:
 * - N_SERVERS server processes, each on a name soak-srv-<slot>, with one or
 *   two receiving threads; a thread serves in one of three ways: receive +
 *   drop, xous_reply_and_receive_next, or deferred (parks some blocking
 *   envelopes for up to DEFER_MAX_MS and answers them later while serving).
 * - N_CLIENTS single-threaded client processes looping over a random mix of
 *   Scalar, BlockingScalar (1, 2 or 5 words back), Move, Borrow and
 *   MutableBorrow (1-16 pages), disconnect/reconnect churn and anonymous
 *   servers created, used (by the client itself) and destroyed.
 * - The test process SIGKILLs a random client or server every 200-500 ms
 *   and starts a replacement (a new server takes the dead one's name).
 *
 * What is checked:
 * - Every answer is the one to that call: a BlockingScalar's words, a
 *   MutableBorrow's buffer, offset and valid are computed by the server from
 *   the call's own (client, sequence number, nonce); a Borrow or Move
 *   arrives with its pattern intact; a Borrow comes back unchanged.
 * - Every call of a client returns OK or SERVER_NOT_FOUND (its server was
 *   killed), nothing else, and none takes more than CALL_LIMIT_MS (a watchdog
 *   thread in each client fails it).
 * - No server sees a message twice (per client sequence numbers, a sliding
 *   window), and a one-thread server sees each client's messages in order.
 * - Exactly once: for each client and each server that both survived, the
 *   blocking calls the client saw answered equal the ones the server
 *   answered for it, the non-blocking ones it sent equal the ones the server
 *   received from it, and the client never got SERVER_NOT_FOUND from it.
 * - Afterwards: xnsd's descriptors are back to the baseline taken after a
 *   warm-up client came and went, it holds no memfd (descriptor or mapping),
 *   its RSS is within RSS_SLACK_KB of the baseline, no test process holds a
 *   memfd, and `xnsctl --json status` (with XNSCTL set) shows no process,
 *   name, server or pending call, `peers` no peer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "harness.h"
#include "wire.h"

#define N_SERVERS 4
#define N_CLIENTS 20
#define MAX_THREADS 2
#define DEFAULT_SECONDS 10
#define MAX_PAGES 16
#define CALL_LIMIT_MS 10000             /* a call (or a wait for a name) that takes longer fails */
#define KILL_MIN_MS 200
#define KILL_MAX_MS 500
#define DEFER_MAX_MS 20                 /* a deferred answer waits up to this */
#define PARK_MAX 8                      /* envelopes one deferring thread parks at most */
#define SEQ_WINDOW 4096                 /* duplicate detection window per client */
#define REPORT_WAIT_MS (CALL_LIMIT_MS + 10000)
#define SETTLE_MS 10000                 /* bound on xnsd letting go of every link and memfd */
/*
 * xnsd's RSS may stay above the baseline by its message pool (up to 1024
 * freed messages of ~150 bytes kept for reuse, ~160 KiB), by what malloc
 * keeps of per-link buffers and tables after 200+ processes came and went,
 * and by heap fragmentation. Measured growth: ~100 kB at 10 s and at 60 s,
 * with and without taskset -c 0. 2 MiB leaves 20x headroom, while a leaked
 * message or buffer per call (the soak makes ~100k calls) still shows.
 */
#define RSS_SLACK_KB 2048

enum {
        OP_HELLO = 1,           /* BlockingScalar: answers (server instance, slot) */
        OP_WORK1 = 2,           /* BlockingScalar, 1 word back */
        OP_WORK2 = 3,           /* 2 words */
        OP_WORK5 = 4,           /* 5 words */
        OP_NOTE = 5,            /* Scalar */
        OP_MOVE = 6,
        OP_BORROW = 7,
        OP_MUTBORROW = 8,
        OP_ANON = 9,            /* to a client's own anonymous server */
        OP_QUIT = 0x5155,       /* BlockingScalar from the stopper: one thread ends */
};

#define MAGIC_REQ 0x50414b31u   /* header of a lent or moved buffer */
#define MAGIC_REP 0x50414b32u   /* header of a MutableBorrow's answer */
#define HDR_BYTES 16u           /* magic, client, seq, pages (request) or server (answer) */

enum srv_mode { MODE_SYNC, MODE_RARN, MODE_DEFER };

struct srv_cfg {
        unsigned n_threads;
        enum srv_mode modes[MAX_THREADS];
};

static const struct srv_cfg srv_cfgs[N_SERVERS] = {
        { 1, { MODE_SYNC } },
        { 2, { MODE_RARN, MODE_RARN } },
        { 1, { MODE_DEFER } },
        { 2, { MODE_DEFER, MODE_SYNC } },
};

static const char *const mode_names[] = { "receive+drop", "reply_and_receive_next", "deferred" };

/* --- small helpers -------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s) {
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static uint32_t rnd_below(uint64_t *s, uint32_t n) {
        return (uint32_t)(splitmix(s) % n);
}

static uint32_t mix3(uint32_t a, uint32_t b, uint32_t c) {
        uint64_t s = ((uint64_t)a << 32 | b) ^ ((uint64_t)c * 0xd6e8feb86659fd93ull);

        return (uint32_t)splitmix(&s);
}

static void srv_name(char *buf, size_t size, unsigned slot) {
        snprintf(buf, size, "soak-srv-%u", slot);
}

/* Descriptors of a process ("self" or a pid), and how many are memfds;
 * with list, the targets of those not in skip (a baseline's). */
struct fd_scan {
        unsigned n, memfds, sockets;
        char list[2048];
};

static void fd_scan(const char *pid, struct fd_scan *out) {
        char path[64];
        struct dirent *de;
        DIR *d;

        *out = (struct fd_scan){ 0 };
        snprintf(path, sizeof(path), "/proc/%s/fd", pid);
        d = opendir(path);
        EXPECT_MSG(d, "%s: %s", path, strerror(errno));
        while ((de = readdir(d))) {
                char link[400], target[256];
                ssize_t n;

                if (de->d_name[0] == '.' || (!strcmp(pid, "self") && atoi(de->d_name) == dirfd(d)))
                        continue;
                snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
                n = readlink(link, target, sizeof(target) - 1);
                if (n < 0)
                        continue;       /* closed meanwhile */
                target[n] = 0;
                out->n++;
                if (!strncmp(target, "/memfd:", 7) || !strncmp(target, "memfd:", 6))
                        out->memfds++;
                if (!strncmp(target, "socket:", 7))
                        out->sockets++;
                size_t len = strlen(out->list);
                snprintf(out->list + len, sizeof(out->list) - len, "%s%s->%s", len ? " " : "", de->d_name, target);
        }
        closedir(d);
}

/* Fails the calling process if it holds more than max memfds, or, with
 * per_link, more than max for each of its sockets (its links to xnsd and
 * a few more: each link keeps buffers lent to it on its own). */
static void expect_memfds_at_most(const char *who, unsigned max, bool per_link) {
        struct fd_scan s;

        fd_scan("self", &s);
        if (per_link)
                max *= s.sockets;
        EXPECT_MSG(s.memfds <= max, "%s holds %u memfd(s) at the end: %s", who, s.memfds, s.list);
}

static void expect_no_memfd(const char *who) {
        expect_memfds_at_most(who, 0, false);
}

static unsigned maps_memfds(pid_t pid) {
        char path[64], line[512];
        unsigned n = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        f = fopen(path, "re");
        EXPECT_MSG(f, "%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f))
                if (strstr(line, "/memfd:"))
                        n++;
        fclose(f);
        return n;
}

static unsigned long rss_kb(pid_t pid) {
        char path[64], line[256];
        unsigned long kb = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        EXPECT_MSG(f, "%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %lu", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

static unsigned env_uint(const char *name, unsigned dflt) {
        const char *v = getenv(name);

        return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

/* --- reports ------------------------------------------------------------- */

/* A server's count for one client instance (indexed by client instance). */
struct srv_entry {
        uint32_t cinst;
        uint32_t nonblocking;           /* Scalars and Moves received */
        uint32_t answered;              /* blocking messages answered */
};

struct srv_report {
        uint32_t sinst, n_entries;
        uint64_t received, deferred;
};

/* A client's count for one server instance. */
struct cli_entry {
        uint32_t sinst;
        uint32_t nonblocking;           /* Scalars and Moves sent with XOUS_OK */
        uint32_t blocking_ok;           /* blocking calls answered XOUS_OK (HELLO too) */
        uint32_t not_found;             /* calls that failed SERVER_NOT_FOUND */
};

struct cli_report {
        uint32_t cinst, n_entries;
        uint64_t calls[5], ok[5], not_found[5];
        uint64_t hellos, connects, disconnects, anon;
};

/* --- servers ------------------------------------------------------------- */

struct srv_arg {
        unsigned slot;
        uint32_t sinst;
        uint64_t seed;
};

struct srv_client {                     /* what one server knows of one client */
        bool any;
        uint32_t max_seq;
        uint64_t seen[SEQ_WINDOW / 64];
        struct srv_entry e;
};

struct parked {
        xous_envelope_t *env;
        uint64_t due_ms;
};

struct srv_thread {
        pthread_t t;
        enum srv_mode mode;
        uint64_t rng;
        struct parked parked[PARK_MAX];
        unsigned n_parked;
};

static struct {
        const struct srv_arg *arg;
        xous_sid_t sid;
        bool ordered;                   /* one thread: each client's messages arrive in order */
        pthread_mutex_t lock;
        struct srv_client *clients;     /* indexed by client instance */
        size_t n_clients;
        uint64_t received, deferred;
        struct srv_thread threads[MAX_THREADS];
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct srv_client *srv_client_get(uint32_t cinst) {
        EXPECT_MSG(cinst > 0 && cinst < 1u << 20, "message from client instance %u", cinst);
        if (cinst >= srv.n_clients) {
                size_t n = cinst + 64;

                srv.clients = realloc(srv.clients, n * sizeof(*srv.clients));
                EXPECT(srv.clients);
                memset(srv.clients + srv.n_clients, 0, (n - srv.n_clients) * sizeof(*srv.clients));
                srv.n_clients = n;
        }
        srv.clients[cinst].e.cinst = cinst;
        return &srv.clients[cinst];
}

/* Records (cinst, seq); fails on a duplicate or, in a one-thread server, on
 * a message out of order. */
static void srv_note_seq(struct srv_client *c, uint32_t cinst, uint32_t seq) {
        uint64_t bit = 1ull << (seq % 64);
        uint64_t *word = &c->seen[(seq % SEQ_WINDOW) / 64];

        if (!c->any || seq > c->max_seq) {
                uint32_t from = c->any ? c->max_seq + 1 : seq;

                if (c->any && seq - c->max_seq >= SEQ_WINDOW)
                        memset(c->seen, 0, sizeof(c->seen));
                else
                        for (uint32_t s = from; s != seq; s++)
                                c->seen[(s % SEQ_WINDOW) / 64] &= ~(1ull << (s % 64));
                c->any = true;
                c->max_seq = seq;
                *word |= bit;
                return;
        }
        EXPECT_MSG(!srv.ordered, "server %u: client %u's seq %u arrived after seq %u (out of order)",
                   srv.arg->sinst, cinst, seq, c->max_seq);
        EXPECT_MSG(c->max_seq - seq < SEQ_WINDOW, "server %u: client %u's seq %u arrived long after seq %u",
                   srv.arg->sinst, cinst, seq, c->max_seq);
        EXPECT_MSG(!(*word & bit), "server %u: client %u's seq %u received twice", srv.arg->sinst, cinst, seq);
        *word |= bit;
}

static uint32_t *env_words(xous_envelope_t *env) {
        return xous_envelope_buf(env);
}

/* Checks a message on receipt and counts it; returns its client instance (0: the stopper). */
static uint32_t srv_accept(xous_envelope_t *env) {
        xous_msg_kind_t kind = xous_envelope_kind(env);
        uint32_t id = xous_envelope_id(env), cinst, seq;
        const uint32_t *a = xous_envelope_args(env);
        struct srv_client *c;

        if (id == OP_QUIT) {
                EXPECT_EQ(kind, XOUS_MSG_BLOCKING_SCALAR);
                return 0;
        }
        if (kind == XOUS_MSG_SCALAR || kind == XOUS_MSG_BLOCKING_SCALAR) {
                cinst = a[0];
                seq = a[1];
                EXPECT_MSG(a[3] == mix3(a[0], a[1], a[2]), "server %u: scalar args %08x %08x %08x %08x corrupt",
                           srv.arg->sinst, a[0], a[1], a[2], a[3]);
                if (kind == XOUS_MSG_SCALAR)
                        EXPECT_EQ(id, OP_NOTE);
                else
                        EXPECT_MSG(id == OP_HELLO || id == OP_WORK1 || id == OP_WORK2 || id == OP_WORK5,
                                   "BlockingScalar with opcode %u", id);
        } else {
                uint32_t *w = env_words(env);
                size_t len = xous_envelope_buf_len(env);

                EXPECT_MSG(w && len >= PAGE, "memory message of %zu bytes", len);
                EXPECT_MSG(w[0] == MAGIC_REQ, "server %u: buffer header %08x", srv.arg->sinst, w[0]);
                cinst = w[1];
                seq = w[2];
                EXPECT_MSG(w[3] >= 1 && w[3] <= MAX_PAGES && len == w[3] * PAGE,
                           "server %u: %zu bytes, header says %u pages", srv.arg->sinst, len, w[3]);
                EXPECT_MSG(check_pattern(w + 4, len - HDR_BYTES, mix3(cinst, seq, 0)),
                           "server %u: client %u seq %u: buffer pattern corrupt", srv.arg->sinst, cinst, seq);
                EXPECT_EQ(xous_envelope_offset(env), seq);
                EXPECT_EQ(xous_envelope_valid(env), mix3(cinst, seq, 1));
                EXPECT_EQ(id, kind == XOUS_MSG_MOVE ? OP_MOVE : kind == XOUS_MSG_BORROW ? OP_BORROW : OP_MUTBORROW);
        }
        pthread_mutex_lock(&srv.lock);
        c = srv_client_get(cinst);
        srv_note_seq(c, cinst, seq);
        srv.received++;
        if (kind == XOUS_MSG_SCALAR || kind == XOUS_MSG_MOVE)
                c->e.nonblocking++;
        pthread_mutex_unlock(&srv.lock);
        return cinst;
}

/* Fills in the answer of a blocking message (the drop then sends it). */
static void srv_answer(xous_envelope_t *env) {
        xous_msg_kind_t kind = xous_envelope_kind(env);
        uint32_t id = xous_envelope_id(env), sinst = srv.arg->sinst;
        const uint32_t *a = xous_envelope_args(env);
        uint32_t cinst = 0;

        if (kind == XOUS_MSG_BLOCKING_SCALAR) {
                uint32_t v[5] = { mix3(a[0], a[1], a[2]) ^ 0x5a5a5a5au, sinst, a[0], a[1], a[2] };

                cinst = a[0];
                if (id == OP_QUIT)
                        EXPECT_OK(xous_return_scalar(env, 0));
                else if (id == OP_HELLO)
                        EXPECT_OK(xous_return_scalar2(env, sinst, srv.arg->slot));
                else if (id == OP_WORK1)
                        EXPECT_OK(xous_return_scalar(env, v[0]));
                else if (id == OP_WORK2)
                        EXPECT_OK(xous_return_scalar2(env, v[0], v[1]));
                else
                        EXPECT_OK(xous_return_scalar5(env, v));
        } else if (kind == XOUS_MSG_MUTABLE_BORROW) {
                uint32_t *w = env_words(env);
                size_t len = xous_envelope_buf_len(env);
                uint32_t seq = w[2];

                cinst = w[1];
                w[0] = MAGIC_REP;
                w[3] = sinst;
                fill_pattern(w + 4, len - HDR_BYTES, mix3(cinst, seq, 2));
                xous_envelope_set_offset_valid(env, ~seq, mix3(cinst, seq, sinst));
        } else if (kind == XOUS_MSG_BORROW) {
                cinst = env_words(env)[1];
        } else {
                return;
        }
        if (id == OP_QUIT)
                return;
        pthread_mutex_lock(&srv.lock);
        srv_client_get(cinst)->e.answered++;
        pthread_mutex_unlock(&srv.lock);
}

static bool env_blocks(const xous_envelope_t *env) {
        xous_msg_kind_t k = xous_envelope_kind(env);

        return k == XOUS_MSG_BLOCKING_SCALAR || k == XOUS_MSG_BORROW || k == XOUS_MSG_MUTABLE_BORROW;
}

static void srv_flush_parked(struct srv_thread *t, bool all) {
        uint64_t now = now_ms();

        for (unsigned i = 0; i < t->n_parked;) {
                if (all || t->parked[i].due_ms <= now) {
                        srv_answer(t->parked[i].env);
                        xous_envelope_drop(t->parked[i].env);
                        t->parked[i] = t->parked[--t->n_parked];
                } else {
                        i++;
                }
        }
}

/* One receiving thread; returns on OP_QUIT. */
static void *srv_thread_run(void *p) {
        struct srv_thread *t = p;
        xous_envelope_t *env = NULL;

        for (;;) {
                uint32_t cinst;

                switch (t->mode) {
                case MODE_SYNC:
                        EXPECT_OK(xous_receive_message(srv.sid, &env));
                        break;
                case MODE_RARN:
                        EXPECT_OK(xous_reply_and_receive_next(srv.sid, &env));
                        break;
                case MODE_DEFER:
                        if (t->n_parked == 0) {
                                EXPECT_OK(xous_receive_message(srv.sid, &env));
                                break;
                        }
                        EXPECT_OK(xous_try_receive_message(srv.sid, &env));
                        if (!env) {
                                sleep_ms(1);
                                srv_flush_parked(t, false);
                                continue;
                        }
                        break;
                }
                EXPECT(env);
                cinst = srv_accept(env);
                if (cinst == 0) {       /* OP_QUIT */
                        srv_flush_parked(t, true);
                        srv_answer(env);
                        xous_envelope_drop(env);
                        return NULL;
                }
                if (t->mode == MODE_DEFER && env_blocks(env) && t->n_parked < PARK_MAX &&
                    rnd_below(&t->rng, 2) == 0) {
                        t->parked[t->n_parked++] = (struct parked){
                                .env = env, .due_ms = now_ms() + rnd_below(&t->rng, DEFER_MAX_MS + 1),
                        };
                        pthread_mutex_lock(&srv.lock);
                        srv.deferred++;
                        pthread_mutex_unlock(&srv.lock);
                        env = NULL;
                } else {
                        srv_answer(env);
                        if (t->mode != MODE_RARN) {
                                xous_envelope_drop(env);
                                env = NULL;
                        }       /* else the next reply_and_receive_next drops it */
                }
                if (t->mode == MODE_DEFER)
                        srv_flush_parked(t, false);
        }
}

static void srv_register(const char *name) {
        uint64_t start = now_ms();

        for (;;) {
                xous_error_t e = xous_register_name(name, 0, &srv.sid);

                if (e == XOUS_OK)
                        return;
                /* The dead owner's name is freed once xnsd sees it gone. */
                EXPECT_MSG(e == XOUS_ERR_SERVER_EXISTS, "register %s: %s", name, harness_errname(e));
                EXPECT_MSG(now_ms() - start < CALL_LIMIT_MS, "%s still taken %d ms after its owner died",
                           name, CALL_LIMIT_MS);
                sleep_ms(2);
        }
}

static void srv_report_send(void) {
        struct srv_report r = { .sinst = srv.arg->sinst, .received = srv.received, .deferred = srv.deferred };
        struct srv_entry *e = calloc(srv.n_clients + 1, sizeof(*e));

        EXPECT(e);
        for (size_t i = 0; i < srv.n_clients; i++)
                if (srv.clients[i].e.cinst)
                        e[r.n_entries++] = srv.clients[i].e;
        parent_send(&r, sizeof(r));
        parent_send(e, r.n_entries * sizeof(*e));
        free(e);
}

static void server_main(void *p) {
        const struct srv_cfg *cfg;
        char name[32];

        srv.arg = p;
        cfg = &srv_cfgs[srv.arg->slot];
        srv.ordered = cfg->n_threads == 1;
        srv_name(name, sizeof(name), srv.arg->slot);
        srv_register(name);
        parent_send_u32(srv.arg->sinst);        /* ready */
        for (unsigned i = 0; i < cfg->n_threads; i++) {
                uint64_t s = srv.arg->seed ^ i;

                srv.threads[i] = (struct srv_thread){ .mode = cfg->modes[i], .rng = splitmix(&s) };
        }
        for (unsigned i = 1; i < cfg->n_threads; i++)
                thread_start(&srv.threads[i].t, srv_thread_run, &srv.threads[i]);
        srv_thread_run(&srv.threads[0]);
        for (unsigned i = 1; i < cfg->n_threads; i++)
                thread_join(srv.threads[i].t, CALL_LIMIT_MS);
        srv_report_send();
        EXPECT_OK(xous_unregister_server(srv.sid));
        /* the buffers lent to it that its links keep (none in use), no more */
        expect_memfds_at_most("server", XNS_BUFS_MAX, true);
}

/* Sends OP_QUIT once per receiving thread to each server (the killer
 * replaced every server it killed, so all slots are served). */
static void stopper_main(void *unused) {
        (void)unused;
        for (unsigned slot = 0; slot < N_SERVERS; slot++) {
                xous_scalar_reply_t reply;
                char name[32];
                xous_cid_t cid;

                srv_name(name, sizeof(name), slot);
                EXPECT_OK(xous_request_connection(name, &cid));
                for (unsigned i = 0; i < srv_cfgs[slot].n_threads; i++)
                        EXPECT_OK(xous_blocking_scalar(cid, OP_QUIT, 0, 0, 0, 0, &reply));
                EXPECT_OK(xous_disconnect(cid));
        }
}

/* --- clients ------------------------------------------------------------- */

struct cli_arg {
        uint32_t cinst;
        uint64_t seed;
        uint64_t deadline_ms;
};

static struct {
        const struct cli_arg *arg;
        uint64_t rng;
        uint32_t seq;
        xous_cid_t cid[N_SERVERS];
        uint32_t sinst[N_SERVERS];      /* the server behind cid[], from its HELLO */
        xous_buf_t *bufs[MAX_PAGES + 1];
        struct cli_entry *entries;      /* indexed by server instance */
        size_t n_entries;
        struct cli_report r;
        _Atomic uint64_t call_start;    /* the watchdog's view: 0 outside a call */
        const char *_Atomic call_what;
} cli;

/* Brackets a library call for the watchdog. */
#define WATCHED(what, call)                                                             \
        ({                                                                              \
                atomic_store(&cli.call_what, (what));                                   \
                atomic_store(&cli.call_start, now_ms());                                \
                xous_error_t _e = (call);                                               \
                atomic_store(&cli.call_start, 0);                                       \
                _e;                                                                     \
        })

static void *cli_watchdog(void *unused) {
        (void)unused;
        for (;;) {
                uint64_t start = atomic_load(&cli.call_start);

                if (start && now_ms() - start > CALL_LIMIT_MS)
                        harness_fail_at(__FILE__, __LINE__, "client %u: %s has not returned after %d ms",
                                        cli.arg->cinst, atomic_load(&cli.call_what), CALL_LIMIT_MS);
                sleep_ms(100);
        }
        return NULL;
}

static struct cli_entry *cli_entry(uint32_t sinst) {
        EXPECT_MSG(sinst > 0 && sinst < 1u << 20, "server instance %u", sinst);
        if (sinst >= cli.n_entries) {
                size_t n = sinst + 16;

                cli.entries = realloc(cli.entries, n * sizeof(*cli.entries));
                EXPECT(cli.entries);
                memset(cli.entries + cli.n_entries, 0, (n - cli.n_entries) * sizeof(*cli.entries));
                cli.n_entries = n;
        }
        cli.entries[sinst].sinst = sinst;
        return &cli.entries[sinst];
}

static void cli_drop_conn(unsigned slot) {
        EXPECT_OK(WATCHED("disconnect", xous_disconnect(cli.cid[slot])));
        cli.cid[slot] = 0;
        cli.sinst[slot] = 0;
        cli.r.disconnects++;
}

/* A CID to slot's server and that server's instance; false once the run is over. */
static bool cli_ensure_conn(unsigned slot) {
        uint64_t start = now_ms();
        char name[32];

        srv_name(name, sizeof(name), slot);
        while (!cli.sinst[slot]) {
                xous_scalar_reply_t reply = { 0 };
                xous_error_t e;
                uint32_t seq;

                if (now_ms() >= cli.arg->deadline_ms)
                        return false;
                EXPECT_MSG(now_ms() - start < CALL_LIMIT_MS, "client %u: no server on %s for %d ms",
                           cli.arg->cinst, name, CALL_LIMIT_MS);
                if (!cli.cid[slot]) {
                        e = WATCHED("request_connection", xous_request_connection(name, &cli.cid[slot]));
                        if (e == XOUS_ERR_SERVER_NOT_FOUND) {
                                cli.cid[slot] = 0;
                                sleep_ms(1 + rnd_below(&cli.rng, 10));
                                continue;
                        }
                        EXPECT_MSG(e == XOUS_OK, "request_connection(%s): %s", name, harness_errname(e));
                        cli.r.connects++;
                }
                seq = ++cli.seq;
                e = WATCHED("HELLO", xous_blocking_scalar(cli.cid[slot], OP_HELLO, cli.arg->cinst, seq, 0,
                                                          mix3(cli.arg->cinst, seq, 0), &reply));
                if (e == XOUS_ERR_SERVER_NOT_FOUND) {
                        cli_drop_conn(slot);
                        continue;
                }
                EXPECT_MSG(e == XOUS_OK, "HELLO to %s: %s", name, harness_errname(e));
                EXPECT_MSG(reply.count == 2 && reply.v[1] == slot && reply.v[0] > 0,
                           "HELLO to %s answered count %u (%u, %u)", name, reply.count, reply.v[0], reply.v[1]);
                cli.sinst[slot] = reply.v[0];
                cli_entry(reply.v[0])->blocking_ok++;
                cli.r.hellos++;
        }
        return true;
}

/* Counts a call's result against slot's server; false when it failed
 * SERVER_NOT_FOUND (the CID is then given back). */
static bool cli_result(unsigned slot, xous_msg_kind_t kind, xous_error_t e, const char *what) {
        struct cli_entry *ent = cli_entry(cli.sinst[slot]);

        cli.r.calls[kind]++;
        if (e == XOUS_ERR_SERVER_NOT_FOUND) {
                cli.r.not_found[kind]++;
                ent->not_found++;
                cli_drop_conn(slot);
                return false;
        }
        EXPECT_MSG(e == XOUS_OK, "client %u: %s to server %u: %s", cli.arg->cinst, what, cli.sinst[slot],
                   harness_errname(e));
        cli.r.ok[kind]++;
        if (kind == XOUS_MSG_SCALAR || kind == XOUS_MSG_MOVE)
                ent->nonblocking++;
        else
                ent->blocking_ok++;
        return true;
}

static void cli_scalar(unsigned slot, bool blocking) {
        uint32_t c = cli.arg->cinst, seq = ++cli.seq, nonce = (uint32_t)splitmix(&cli.rng);
        uint32_t check = mix3(c, seq, nonce), want = check ^ 0x5a5a5a5au;
        static const uint32_t ops[3] = { OP_WORK1, OP_WORK2, OP_WORK5 };
        static const uint32_t counts[3] = { 1, 2, 5 };
        xous_scalar_reply_t reply = { 0 };
        unsigned which = rnd_below(&cli.rng, 3);
        xous_error_t e;

        if (!blocking) {
                e = WATCHED("send_scalar", xous_send_scalar(cli.cid[slot], OP_NOTE, c, seq, nonce, check));
                cli_result(slot, XOUS_MSG_SCALAR, e, "Scalar");
                return;
        }
        e = WATCHED("blocking_scalar", xous_blocking_scalar(cli.cid[slot], ops[which], c, seq, nonce, check, &reply));
        if (!cli_result(slot, XOUS_MSG_BLOCKING_SCALAR, e, "BlockingScalar"))
                return;
        EXPECT_MSG(reply.count == counts[which], "client %u seq %u: %u words back, want %u", c, seq, reply.count,
                   counts[which]);
        EXPECT_MSG(reply.v[0] == want, "client %u seq %u: answer %08x, want %08x (another call's answer?)", c, seq,
                   reply.v[0], want);
        if (reply.count >= 2)
                EXPECT_EQ(reply.v[1], cli.sinst[slot]);
        if (reply.count == 5) {
                EXPECT_EQ(reply.v[2], c);
                EXPECT_EQ(reply.v[3], seq);
                EXPECT_EQ(reply.v[4], nonce);
        }
}

static xous_buf_t *cli_buf(uint32_t pages) {
        if (!cli.bufs[pages]) {
                cli.bufs[pages] = xous_buf_new(pages * PAGE);
                EXPECT_MSG(cli.bufs[pages], "xous_buf_new(%u pages): %s", pages, strerror(errno));
        }
        return cli.bufs[pages];
}

/* A buffer of pages with the request header and pattern of seq. */
static xous_buf_t *cli_buf_request(uint32_t pages, uint32_t seq) {
        xous_buf_t *buf = cli_buf(pages);
        uint32_t *w = xous_buf_data(buf);

        w[0] = MAGIC_REQ;
        w[1] = cli.arg->cinst;
        w[2] = seq;
        w[3] = pages;
        fill_pattern(w + 4, pages * PAGE - HDR_BYTES, mix3(cli.arg->cinst, seq, 0));
        return buf;
}

static void cli_memory(unsigned slot, xous_msg_kind_t kind) {
        uint32_t c = cli.arg->cinst, seq = ++cli.seq, pages = 1 + rnd_below(&cli.rng, MAX_PAGES);
        uint32_t offset = seq, valid = mix3(c, seq, 1);
        xous_buf_t *buf = cli_buf_request(pages, seq);
        uint32_t *w = xous_buf_data(buf);
        xous_error_t e;

        switch (kind) {
        case XOUS_MSG_MOVE:
                e = WATCHED("send (Move)", xous_send(cli.cid[slot], OP_MOVE, buf, offset, valid));
                if (e == XOUS_OK)
                        cli.bufs[pages] = NULL;         /* consumed */
                cli_result(slot, kind, e, "Move");
                return;
        case XOUS_MSG_BORROW:
                e = WATCHED("lend", xous_lend(cli.cid[slot], OP_BORROW, buf, offset, valid));
                cli_result(slot, kind, e, "Borrow");
                EXPECT_MSG(w[0] == MAGIC_REQ && w[1] == c && w[2] == seq &&
                           check_pattern(w + 4, pages * PAGE - HDR_BYTES, mix3(c, seq, 0)),
                           "client %u seq %u: lent buffer changed (%s)", c, seq, harness_errname(e));
                return;
        default:
                e = WATCHED("lend_mut", xous_lend_mut(cli.cid[slot], OP_MUTBORROW, buf, &offset, &valid));
                if (!cli_result(slot, kind, e, "MutableBorrow"))
                        return;
                EXPECT_MSG(w[0] == MAGIC_REP && w[1] == c && w[2] == seq && w[3] == cli.sinst[slot],
                           "client %u seq %u: MutableBorrow answer header %08x %u %u %u, want server %u", c, seq,
                           w[0], w[1], w[2], w[3], cli.sinst[slot]);
                EXPECT_MSG(check_pattern(w + 4, pages * PAGE - HDR_BYTES, mix3(c, seq, 2)),
                           "client %u seq %u: MutableBorrow answer data corrupt", c, seq);
                EXPECT_EQ(offset, ~seq);
                EXPECT_EQ(valid, mix3(c, seq, cli.sinst[slot]));
                return;
        }
}

/* An anonymous server of our own: a Scalar and maybe a Move to it, received
 * or left queued, then disconnect and destroy (queued messages are freed). */
static void cli_anon(void) {
        xous_envelope_t *env = NULL;
        xous_buf_t *move = NULL;
        bool with_move = rnd_below(&cli.rng, 2), receive = rnd_below(&cli.rng, 2);
        xous_cid_t cid;
        xous_sid_t sid;

        EXPECT_OK(WATCHED("create_server", xous_create_server(&sid)));
        EXPECT_OK(WATCHED("try_connect", xous_try_connect(sid, &cid)));
        EXPECT_OK(WATCHED("send_scalar (anon)", xous_send_scalar(cid, OP_ANON, cli.arg->cinst, 1, 2, 3)));
        if (with_move) {
                move = xous_buf_new(PAGE);
                EXPECT(move);
                fill_pattern(xous_buf_data(move), PAGE, cli.arg->cinst);
                EXPECT_OK(WATCHED("send (anon Move)", xous_send(cid, OP_ANON, move, 0, PAGE)));
        }
        if (receive) {
                EXPECT_OK(WATCHED("try_receive (anon)", xous_try_receive_message(sid, &env)));
                EXPECT_MSG(env && xous_envelope_kind(env) == XOUS_MSG_SCALAR && xous_envelope_id(env) == OP_ANON &&
                           xous_envelope_args(env)[0] == cli.arg->cinst, "anonymous server: Scalar missing");
                xous_envelope_drop(env);
                if (with_move) {
                        EXPECT_OK(WATCHED("try_receive (anon)", xous_try_receive_message(sid, &env)));
                        EXPECT_MSG(env && xous_envelope_kind(env) == XOUS_MSG_MOVE &&
                                   check_pattern(xous_envelope_buf(env), PAGE, cli.arg->cinst),
                                   "anonymous server: Move missing or corrupt");
                        xous_envelope_drop(env);
                }
        }
        EXPECT_OK(WATCHED("disconnect (anon)", xous_disconnect(cid)));
        EXPECT_OK(WATCHED("destroy_server", xous_destroy_server(sid)));
        cli.r.anon++;
}

static void cli_report_send(void) {
        struct cli_entry *e = calloc(cli.n_entries + 1, sizeof(*e));

        EXPECT(e);
        cli.r.cinst = cli.arg->cinst;
        cli.r.n_entries = 0;
        for (size_t i = 0; i < cli.n_entries; i++)
                if (cli.entries[i].sinst)
                        e[cli.r.n_entries++] = cli.entries[i];
        parent_send(&cli.r, sizeof(cli.r));
        parent_send(e, cli.r.n_entries * sizeof(*e));
        free(e);
}

static void client_main(void *p) {
        pthread_t watchdog;

        cli.arg = p;
        cli.rng = cli.arg->seed;
        thread_start(&watchdog, cli_watchdog, NULL);
        while (now_ms() < cli.arg->deadline_ms) {
                unsigned op = rnd_below(&cli.rng, 100), slot = rnd_below(&cli.rng, N_SERVERS);

                if (op < 8) {                   /* disconnect churn */
                        if (cli.cid[slot])
                                cli_drop_conn(slot);
                        continue;
                }
                if (op < 12) {
                        cli_anon();
                        continue;
                }
                if (!cli_ensure_conn(slot))
                        break;
                if (op < 32)
                        cli_scalar(slot, true);
                else if (op < 44)
                        cli_scalar(slot, false);
                else if (op < 56)
                        cli_memory(slot, XOUS_MSG_MOVE);
                else if (op < 78)
                        cli_memory(slot, XOUS_MSG_BORROW);
                else
                        cli_memory(slot, XOUS_MSG_MUTABLE_BORROW);
        }
        for (unsigned slot = 0; slot < N_SERVERS; slot++)
                if (cli.cid[slot])
                        cli_drop_conn(slot);
        for (unsigned i = 0; i <= MAX_PAGES; i++)
                xous_buf_freep(&cli.bufs[i]);
        expect_no_memfd("client");
        cli_report_send();
        (void)parent_recv_u32();        /* exit only when told: an early exit would look like a crash */
}

/* --- warm-up ------------------------------------------------------------- */

/* One of each kind to the echo server, then ECHO_QUIT. */
static void warmup_client(void *name) {
        xous_buf_t *buf = xous_buf_new(4 * PAGE), *move = xous_buf_new(PAGE);
        xous_scalar_reply_t reply;
        uint32_t offset = 0, valid = PAGE;
        xous_cid_t cid = connect_name(name);

        EXPECT(buf && move);
        EXPECT_OK(xous_blocking_scalar(cid, 1, 41, 0, 0, 0, &reply));
        EXPECT_EQ(reply.v[0], 42);
        EXPECT_OK(xous_send_scalar(cid, 2, 0, 0, 0, 0));
        EXPECT_OK(xous_send(cid, 3, move, 0, PAGE));
        EXPECT_OK(xous_lend(cid, 4, buf, 0, PAGE));
        EXPECT_OK(xous_lend_mut(cid, 5, buf, &offset, &valid));
        EXPECT_OK(xous_blocking_scalar(cid, ECHO_QUIT, 0, 0, 0, 0, &reply));
        EXPECT_OK(xous_disconnect(cid));
        xous_buf_free(buf);
}

/* --- the test process ------------------------------------------------------ */

struct member {
        struct proc p;
        bool server;
        unsigned slot;                  /* server: its name; client: its index */
        char name[32];
        union {
                struct srv_arg s;
                struct cli_arg c;
        } arg;
};

static struct {
        uint64_t rng, seed;
        uint64_t deadline_ms;
        uint32_t next_cinst, next_sinst;
        struct member servers[N_SERVERS], clients[N_CLIENTS];
        unsigned kills_server, kills_client;
        unsigned peak_fds;
        unsigned long peak_rss;
} t;

static void member_start_server(unsigned slot) {
        struct member *m = &t.servers[slot];

        m->server = true;
        m->slot = slot;
        m->arg.s = (struct srv_arg){ .slot = slot, .sinst = t.next_sinst++, .seed = splitmix(&t.rng) };
        snprintf(m->name, sizeof(m->name), "server %u.%u", slot, m->arg.s.sinst);
        proc_start(&m->p, m->name, server_main, &m->arg.s);
        EXPECT_EQ(proc_recv_u32(&m->p), m->arg.s.sinst);      /* registered its name */
}

static void member_start_client(unsigned i) {
        struct member *m = &t.clients[i];

        m->server = false;
        m->slot = i;
        m->arg.c = (struct cli_arg){ .cinst = t.next_cinst++, .seed = splitmix(&t.rng), .deadline_ms = t.deadline_ms };
        snprintf(m->name, sizeof(m->name), "client %u.%u", i, m->arg.c.cinst);
        proc_start(&m->p, m->name, client_main, &m->arg.c);
}

/* Fails if a member died by itself (a failed assertion in it, or a crash). */
static void member_check_alive(struct member *m) {
        int status;
        pid_t r = waitpid(m->p.pid, &status, WNOHANG);

        if (r == 0)
                return;
        m->p.reaped = true;
        char why[96];
        describe_status(why, sizeof(why), status);
        harness_fail_at(__FILE__, __LINE__, "%s (pid %d) %s during the soak", m->name, (int)m->p.pid, why);
}

static void sample_peaks(void) {
        char pid[16];
        struct fd_scan s;
        unsigned long rss;

        snprintf(pid, sizeof(pid), "%d", (int)harness_daemon_pid());
        fd_scan(pid, &s);
        rss = rss_kb(harness_daemon_pid());
        if (s.n > t.peak_fds)
                t.peak_fds = s.n;
        if (rss > t.peak_rss)
                t.peak_rss = rss;
}

/* The killer: a random member every KILL_MIN_MS..KILL_MAX_MS, replaced at once. */
static void soak_run(void) {
        while (now_ms() < t.deadline_ms) {
                uint64_t next = now_ms() + KILL_MIN_MS + rnd_below(&t.rng, KILL_MAX_MS - KILL_MIN_MS + 1);
                unsigned victim;

                while (now_ms() < next && now_ms() < t.deadline_ms) {
                        for (unsigned i = 0; i < N_SERVERS; i++)
                                member_check_alive(&t.servers[i]);
                        for (unsigned i = 0; i < N_CLIENTS; i++)
                                member_check_alive(&t.clients[i]);
                        sample_peaks();
                        sleep_ms(20);
                }
                if (now_ms() >= t.deadline_ms)
                        break;
                victim = rnd_below(&t.rng, N_SERVERS + N_CLIENTS);
                if (victim < N_SERVERS) {
                        proc_kill(&t.servers[victim].p);
                        t.kills_server++;
                        member_start_server(victim);
                } else {
                        proc_kill(&t.clients[victim - N_SERVERS].p);
                        t.kills_client++;
                        member_start_client(victim - N_SERVERS);
                }
        }
}

/* --- the end: reports and cross-checks ----------------------------------- */

struct collected {
        struct cli_report cr[N_CLIENTS];
        struct cli_entry *ce[N_CLIENTS];
        struct srv_report sr[N_SERVERS];
        struct srv_entry *se[N_SERVERS];
};

static void recv_exact(struct proc *p, void *buf, size_t len) {
        if (len && !proc_recv_timeout(p, buf, len, REPORT_WAIT_MS))
                harness_fail_at(__FILE__, __LINE__, "no report from %s within %d ms", p->name, REPORT_WAIT_MS);
}

static void collect_clients(struct collected *c) {
        for (unsigned i = 0; i < N_CLIENTS; i++) {
                struct member *m = &t.clients[i];
                struct cli_report *r = &c->cr[i];

                recv_exact(&m->p, r, sizeof(*r));
                EXPECT_EQ(r->cinst, m->arg.c.cinst);
                c->ce[i] = calloc(r->n_entries + 1, sizeof(*c->ce[i]));
                EXPECT(c->ce[i]);
                recv_exact(&m->p, c->ce[i], r->n_entries * sizeof(*c->ce[i]));
                for (unsigned k = 0; k < 5; k++)
                        EXPECT_MSG(r->calls[k] == r->ok[k] + r->not_found[k],
                                   "%s: kind %u: %" PRIu64 " calls, %" PRIu64 " OK + %" PRIu64 " SERVER_NOT_FOUND",
                                   m->name, k, r->calls[k], r->ok[k], r->not_found[k]);
        }
        for (unsigned i = 0; i < N_CLIENTS; i++) {
                proc_send_u32(&t.clients[i].p, 0);
                proc_wait_exit(&t.clients[i].p, 0);
        }
}

static void collect_servers(struct collected *c) {
        struct proc stopper;

        proc_start(&stopper, "stopper", stopper_main, NULL);
        proc_wait_exit(&stopper, 0);
        for (unsigned i = 0; i < N_SERVERS; i++) {
                struct member *m = &t.servers[i];
                struct srv_report *r = &c->sr[i];

                recv_exact(&m->p, r, sizeof(*r));
                EXPECT_EQ(r->sinst, m->arg.s.sinst);
                c->se[i] = calloc(r->n_entries + 1, sizeof(*c->se[i]));
                EXPECT(c->se[i]);
                recv_exact(&m->p, c->se[i], r->n_entries * sizeof(*c->se[i]));
                proc_wait_exit(&m->p, 0);
        }
}

static const struct cli_entry *find_cli_entry(const struct collected *c, unsigned ci, uint32_t sinst) {
        for (uint32_t k = 0; k < c->cr[ci].n_entries; k++)
                if (c->ce[ci][k].sinst == sinst)
                        return &c->ce[ci][k];
        return NULL;
}

static const struct srv_entry *find_srv_entry(const struct collected *c, unsigned si, uint32_t cinst) {
        for (uint32_t k = 0; k < c->sr[si].n_entries; k++)
                if (c->se[si][k].cinst == cinst)
                        return &c->se[si][k];
        return NULL;
}

/* For every surviving (client, server) pair: what one saw, the other did. */
static unsigned cross_check(const struct collected *c) {
        unsigned pairs = 0;

        for (unsigned ci = 0; ci < N_CLIENTS; ci++)
                for (unsigned si = 0; si < N_SERVERS; si++) {
                        const struct cli_entry *ce = find_cli_entry(c, ci, c->sr[si].sinst);
                        const struct srv_entry *se = find_srv_entry(c, si, c->cr[ci].cinst);
                        struct cli_entry zc = { 0 };
                        struct srv_entry zs = { 0 };
                        const char *cn = t.clients[ci].name, *sn = t.servers[si].name;

                        ce = ce ? ce : &zc;
                        se = se ? se : &zs;
                        EXPECT_MSG(ce->not_found == 0, "%s got SERVER_NOT_FOUND %u times from %s, which lived",
                                   cn, ce->not_found, sn);
                        EXPECT_MSG(ce->blocking_ok == se->answered,
                                   "%s saw %u blocking calls answered by %s, which answered %u", cn,
                                   ce->blocking_ok, sn, se->answered);
                        EXPECT_MSG(ce->nonblocking == se->nonblocking,
                                   "%s sent %u Scalars/Moves to %s, which received %u", cn, ce->nonblocking, sn,
                                   se->nonblocking);
                        pairs += ce->blocking_ok + ce->nonblocking > 0;
                }
        return pairs;
}

/* --- the daemon afterwards ------------------------------------------------ */

/* Whether inode is among the n in inodes. */
static bool inode_in(unsigned long inode, const unsigned long *inodes, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                if (inodes[i] == inode)
                        return true;
        return false;
}

/* The links xnsd holds: its sockets that it accepted on its listening one.
 * /proc/net/unix shows them named by the listener's address and not
 * listening (a socketpair of its own would have no name). */
static unsigned daemon_links(pid_t pid) {
        unsigned long inodes[512];
        unsigned n = 0, links = 0;
        char path[64], line[4096];
        struct dirent *de;
        FILE *f;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        d = opendir(path);
        EXPECT_MSG(d, "%s: %s", path, strerror(errno));
        while ((de = readdir(d)) && n < sizeof(inodes) / sizeof(inodes[0])) {
                char link[400], target[64];
                ssize_t len;

                snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
                len = readlink(link, target, sizeof(target) - 1);
                if (len > 0 && (target[len] = 0, sscanf(target, "socket:[%lu]", &inodes[n]) == 1))
                        n++;
        }
        closedir(d);
        f = fopen("/proc/net/unix", "re");
        EXPECT_MSG(f, "/proc/net/unix: %s", strerror(errno));
        while (fgets(line, sizeof(line), f)) {
                unsigned long flags, inode;
                char name[2];

                /* Num: RefCount Protocol Flags Type St Inode Path; flag
                 * 0x10000 (__SO_ACCEPTCON) marks a listening socket. */
                if (sscanf(line, "%*s %*x %*x %lx %*x %*x %lu %1s", &flags, &inode, name) == 3 &&
                    !(flags & 0x10000) && inode_in(inode, inodes, n))
                        links++;
        }
        fclose(f);
        return links;
}

/* Waits until xnsd holds no link and no memfd: everyone who talked to it
 * left, and it let go of all of it. *s is then the scan of its descriptors
 * (no one connects meanwhile, so there is no link in it either). */
static void daemon_settle(struct fd_scan *s) {
        uint64_t deadline = now_ms() + SETTLE_MS;
        char pid[16];

        snprintf(pid, sizeof(pid), "%d", (int)harness_daemon_pid());
        for (;;) {
                unsigned links = daemon_links(harness_daemon_pid());

                fd_scan(pid, s);
                if (links == 0 && s->memfds == 0)
                        return;
                EXPECT_MSG(now_ms() < deadline, "xnsd still holds %u link(s) and %u memfd(s) %d ms after its "
                           "clients left: %s", links, s->memfds, SETTLE_MS, s->list);
                sleep_ms(20);
        }
}

/* Runs xnsctl --json args..., returns its stdout (malloc'd), exit 0 required. */
static char *xnsctl_json(const char *xnsctl, const char *cmd) {
        size_t size = 65536, len = 0;
        char *out = calloc(1, size);
        uint64_t deadline = now_ms() + 5000;
        int pipefd[2], status, r;
        pid_t pid;

        EXPECT(out);
        EXPECT(pipe2(pipefd, O_CLOEXEC) == 0);
        fflush(NULL);
        pid = fork();
        EXPECT(pid >= 0);
        if (pid == 0) {
                dup2(pipefd[1], STDOUT_FILENO);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execl(xnsctl, "xnsctl", "--socket", harness_socket_path(), "--json", cmd, (char *)NULL);
                _exit(127);
        }
        close(pipefd[1]);
        for (;;) {
                struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
                int64_t left = (int64_t)deadline - (int64_t)now_ms();
                ssize_t n;

                if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
                        break;
                n = read(pipefd[0], out + len, size - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(pipefd[0]);
        r = wait_child(pid, &status, (int)((int64_t)deadline - (int64_t)now_ms() > 0 ?
                                           (int64_t)deadline - (int64_t)now_ms() : 1));
        if (r == 0) {
                kill(pid, SIGKILL);
                wait_child(pid, &status, 5000);
                harness_fail_at(__FILE__, __LINE__, "xnsctl %s did not exit within 5 s", cmd);
        }
        EXPECT_MSG(r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "xnsctl --json %s failed: '%s'", cmd, out);
        return out;
}

static long json_field(const char *json, const char *key) {
        long v = 0;

        EXPECT_MSG(json_long(json, key, &v), "no %s in '%s'", key, json);
        return v;
}

static void check_xnsctl(void) {
        const char *xnsctl = getenv("XNSCTL");
        char *status, *peers;

        if (!xnsctl) {
                fprintf(stderr, "soak: XNSCTL not set, xnsctl status not checked\n");
                return;
        }
        status = xnsctl_json(xnsctl, "status");
        EXPECT_MSG(json_field(status, "processes") == 0 && json_field(status, "servers") == 0 &&
                   json_field(status, "names") == 0 && json_field(status, "pending_calls") == 0,
                   "xnsd not idle after the soak: %s", status);
        peers = xnsctl_json(xnsctl, "peers");
        EXPECT_MSG(strstr(peers, "\"peers\":[]"), "peers left after the soak: %s", peers);
        free(status);
        free(peers);
}

/* The RSS check means nothing under valgrind or AddressSanitizer. */
static bool rss_checked(void) {
#if defined(__SANITIZE_ADDRESS__)
        return false;
#else
        return !getenv("XNSD_WRAPPER");
#endif
}

START_TEST(test_soak) {
        unsigned seconds = env_uint("XNS_SOAK_SECONDS", DEFAULT_SECONDS);
        struct proc warm_srv, warm_cli;
        struct fd_scan base, end;
        struct collected c = { 0 };
        unsigned long base_rss, end_rss;
        uint64_t start, totals[5] = { 0 }, nf[5] = { 0 }, received = 0, deferred = 0, anon = 0, conns = 0;
        char pid[16];
        unsigned pairs;

        if (getenv("XNS_SOAK_SEED") && *getenv("XNS_SOAK_SEED"))
                t.seed = strtoull(getenv("XNS_SOAK_SEED"), NULL, 0);
        else
                EXPECT(getrandom(&t.seed, sizeof(t.seed), 0) == sizeof(t.seed));
        t.rng = t.seed;
        t.next_cinst = 1;
        t.next_sinst = 1;
        fprintf(stderr, "soak: XNS_SOAK_SEED=0x%016" PRIx64 " XNS_SOAK_SECONDS=%u, %u servers, %u clients\n", t.seed,
                seconds, N_SERVERS, N_CLIENTS);
        for (unsigned i = 0; i < N_SERVERS; i++)
                fprintf(stderr, "soak: soak-srv-%u: %s%s%s\n", i, mode_names[srv_cfgs[i].modes[0]],
                        srv_cfgs[i].n_threads > 1 ? " + " : "",
                        srv_cfgs[i].n_threads > 1 ? mode_names[srv_cfgs[i].modes[1]] : "");

        /* Baseline: after one client came, used every kind, and left. */
        proc_start(&warm_srv, "warm-up server", echo_server, "soak-warm");
        (void)proc_recv_sid(&warm_srv);
        proc_start(&warm_cli, "warm-up client", warmup_client, "soak-warm");
        proc_wait_exit(&warm_cli, 0);
        proc_wait_exit(&warm_srv, 0);
        daemon_settle(&base);
        base_rss = rss_kb(harness_daemon_pid());
        fprintf(stderr, "soak: xnsd baseline: %u fds (%s), VmRSS %lu kB\n", base.n, base.list, base_rss);

        start = now_ms();
        t.deadline_ms = start + seconds * 1000ull;
        for (unsigned i = 0; i < N_SERVERS; i++)
                member_start_server(i);
        for (unsigned i = 0; i < N_CLIENTS; i++)
                member_start_client(i);
        soak_run();
        collect_clients(&c);
        collect_servers(&c);
        pairs = cross_check(&c);

        for (unsigned i = 0; i < N_CLIENTS; i++) {
                for (unsigned k = 0; k < 5; k++) {
                        totals[k] += c.cr[i].calls[k];
                        nf[k] += c.cr[i].not_found[k];
                }
                anon += c.cr[i].anon;
                conns += c.cr[i].connects;
        }
        for (unsigned i = 0; i < N_SERVERS; i++) {
                received += c.sr[i].received;
                deferred += c.sr[i].deferred;
        }
        fprintf(stderr,
                "soak: %.1f s; kills: %u servers, %u clients; surviving clients' calls (SERVER_NOT_FOUND): "
                "MutableBorrow %" PRIu64 " (%" PRIu64 "), Borrow %" PRIu64 " (%" PRIu64 "), Move %" PRIu64
                " (%" PRIu64 "), Scalar %" PRIu64 " (%" PRIu64 "), BlockingScalar %" PRIu64 " (%" PRIu64 "); "
                "%" PRIu64 " connects, %" PRIu64 " anonymous servers; surviving servers received %" PRIu64
                ", deferred %" PRIu64 "; %u live pairs cross-checked\n",
                (double)(now_ms() - start) / 1000, t.kills_server, t.kills_client, totals[0], nf[0], totals[1], nf[1],
                totals[2], nf[2], totals[3], nf[3], totals[4], nf[4], conns, anon, received, deferred, pairs);
        for (unsigned i = 0; i < N_CLIENTS; i++)
                free(c.ce[i]);
        for (unsigned i = 0; i < N_SERVERS; i++)
                free(c.se[i]);

        /* Everyone is gone: xnsd must be back where it started. */
        expect_no_memfd("the test process");
        daemon_settle(&end);
        end_rss = rss_kb(harness_daemon_pid());
        snprintf(pid, sizeof(pid), "%d", (int)harness_daemon_pid());
        fprintf(stderr, "soak: xnsd at the end: %u fds, VmRSS %lu kB (baseline %lu kB, %+ld kB; peak %u fds, %lu kB)\n",
                end.n, end_rss, base_rss, (long)end_rss - (long)base_rss, t.peak_fds, t.peak_rss);
        EXPECT_MSG(end.n == base.n, "xnsd has %u fds, %u at the baseline: now %s; then %s", end.n, base.n, end.list,
                   base.list);
        EXPECT_MSG(maps_memfds(harness_daemon_pid()) == 0, "xnsd still maps a memfd");
        if (rss_checked())
                EXPECT_MSG(end_rss <= base_rss + RSS_SLACK_KB, "xnsd VmRSS %lu kB, baseline %lu kB + %u kB allowed",
                           end_rss, base_rss, RSS_SLACK_KB);
        check_xnsctl();
}
END_TEST

int main(void) {
        unsigned seconds = env_uint("XNS_SOAK_SECONDS", DEFAULT_SECONDS);
        Suite *s = suite_create("soak");
        double mult = 1;
        const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
        char buf[32];

        /* harness_add_test() gives a test HARNESS_TEST_TIMEOUT_S; Check
         * multiplies that by CK_TIMEOUT_MULTIPLIER, so scale it to the run:
         * the soak, then up to two report waits, then the daemon settling. */
        if (m && *m)
                mult = strtod(m, NULL);
        mult *= (double)(seconds + 2 * REPORT_WAIT_MS / 1000 + 2 * SETTLE_MS / 1000 + 30) / HARNESS_TEST_TIMEOUT_S;
        snprintf(buf, sizeof(buf), "%.2f", mult);
        setenv("CK_TIMEOUT_MULTIPLIER", buf, 1);
        HARNESS_ADD(s, test_soak);
        return harness_run(s);
}
