/* test-cluster-soak.c: the soak across hosts: servers spread over three
 * hosts (an xnsd and an xnsgw each, tests/hosts.c) on a private 3-node NATS
 * cluster, clients on every host calling servers of other hosts, while
 * gateways are killed and frozen, NATS nodes killed and servers replaced.
 *
 *     XNS_SOAK_SECONDS=60 meson test -C build --suite soak
 *
 * XNS_SOAK_SECONDS   how long the clients run under faults (default 10)
 * XNS_SOAK_SEED      the random seed (printed at start), to replay the
 *                    clients' calls and the faults' order
 *
 * What runs: N_SERVERS servers, svc.soak.<slot> on host slot % HOSTS, and
 * CLIENTS_PER_HOST clients per host, each calling servers of the other
 * hosts with a random kind: BlockingScalar, MutableBorrow or Scalar. The
 * test process injects one fault at a time, every FAULT_MIN_MS to
 * FAULT_MAX_MS, each kind once in every four (shuffled): SIGKILL a gateway and start it again, SIGSTOP a gateway for
 * FREEZE_MS, SIGKILL a NATS node and start it again (on its ports; if one
 * cannot start again, it stays down and no other node is killed: two keep
 * the quorum), SIGKILL a server and start a new one on its name.
 *
 * What is checked, whatever the timing:
 * - Every call returns OK or SERVER_NOT_FOUND (and a lookup the same),
 *   nothing else; an OK call carries its own answer: a BlockingScalar's
 *   words are computed from the call's nonce and sequence number, a
 *   MutableBorrow's buffer, offset and valid from its nonce, so an answer
 *   to another call (a duplicate, a stale one) fails.
 * - The Scalars of one client arrive at one server instance in increasing
 *   order, none twice (gaps are allowed: one lost with its gateway).
 * - No client stalls: one that completes no call for STALL_MS (a generous
 *   bound: test-cluster checks the 1 s wake-ups precisely) fails the test
 *   with the call it is in. No server dies but by our hand.
 * - Afterwards, faults stopped, every gateway attached and hearing the
 *   others, every client reaches every server of another host and gets
 *   its answer: the cluster healed.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "hosts.h"
#include "nats.h"
#include "test-util.h"

#define HOSTS 3
#define N_SERVERS 6
#define CLIENTS_PER_HOST 3
#define N_CLIENTS (HOSTS * CLIENTS_PER_HOST)
#define DEFAULT_SECONDS 10
#define START_MS 30000          /* a host, a gateway, a NATS node to be ready */
/* A client that completes no call for this long fails. A lookup may take
 * the registry's bound while JetStream recovers from a killed node (its
 * streams elect leaders): xnsgw/registry.c retries for REGISTRY_CLAIM_MS,
 * 15 s, and its last request may take 2 s more. 10 s failed one CI run
 * here, a client in a lookup for 11.7 s after two node kills. */
#define STALL_MS 20000
#define HEAL_MS 30000           /* the final calls, after the faults */
#define REGISTER_MS 25000       /* a replacement server retries its name this long */
#define FAULT_MIN_MS 300
#define FAULT_MAX_MS 1500
#define FREEZE_MS 1500
#define MAX_PAGES 4
#define MAGIC_REQ 0x43534b31u
#define MAGIC_REP 0x43534b32u
#define HDR_WORDS 4             /* magic, client, seq, nonce */

enum { OP_BS = 1, OP_MUT = 2, OP_NOTE = 3 };
enum { K_BS, K_MUT, K_NOTE, K_CONNECT, KINDS };
static const char *const kind_names[KINDS] = { "BlockingScalar", "MutableBorrow", "Scalar", "lookup" };
enum { PHASE_RUN, PHASE_FINAL, PHASE_STOP };
enum { F_GW_KILL, F_GW_STOP, F_NATS_KILL, F_SERVER_KILL, FAULTS };
static const char *const fault_names[FAULTS] = { "gateway SIGKILL", "gateway SIGSTOP", "NATS node SIGKILL",
                                                 "server SIGKILL" };

/* What the clients and the test share (MAP_SHARED, made before the forks). */
struct client_state {
        _Atomic uint64_t steps;                 /* calls and lookups done */
        _Atomic uint32_t doing;                 /* kind << 8 | server slot, of the current step */
        _Atomic uint32_t ok[KINDS], not_found[KINDS];
        _Atomic bool healed;                    /* made its final calls */
};
struct shared {
        _Atomic int phase;
        struct client_state cli[N_CLIENTS];
};

static struct test_nats nats = TEST_NATS_INIT;
static struct test_host hosts[HOSTS] = { TEST_HOST_INIT, TEST_HOST_INIT, TEST_HOST_INIT };
static const char *const exports[] = { "svc*", NULL };
static const char *const host_names[HOSTS] = { "a", "b", "c" };
static char nats_urls[256];
static uint64_t seed;
static unsigned seconds;
static struct shared *sh;

static uint64_t splitmix(uint64_t *s) {
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static uint32_t rnd_below(uint64_t *s, uint32_t n) {
        return (uint32_t)(splitmix(s) % n);
}

static void server_name(char *buf, size_t size, unsigned slot) {
        snprintf(buf, size, "svc.soak.%u", slot);
}

static unsigned server_host(unsigned slot) {
        return slot % HOSTS;
}

/* --- servers --------------------------------------------------------------- */

/* Registers the name, retrying while the cluster still holds it for the
 * instance that was killed (or its registry is slow to answer). */
static xous_sid_t server_register(const char *name) {
        uint64_t deadline = now_ms() + REGISTER_MS;
        xous_sid_t sid;
        xous_error_t e;

        while ((e = xous_register_name(name, 0, &sid)) != XOUS_OK) {
                EXPECT_MSG(e == XOUS_ERR_SERVER_EXISTS || e == XOUS_ERR_UNAVAILABLE, "register %s: %s", name,
                           harness_errname(e));
                EXPECT_MSG(now_ms() < deadline, "register %s: still %s after %d ms", name, harness_errname(e),
                           REGISTER_MS);
                sleep_ms(50);
        }
        return sid;
}

static void server_mut(xous_envelope_t *env) {
        uint32_t *w = xous_envelope_buf(env);
        size_t len = xous_envelope_buf_len(env);
        uint32_t nonce;

        EXPECT_MSG(len >= PAGE && w[0] == MAGIC_REQ, "MutableBorrow of %zu bytes, magic 0x%x", len, len ? w[0] : 0);
        nonce = w[3];
        EXPECT_MSG(check_pattern(w + HDR_WORDS, len - 4 * HDR_WORDS, nonce), "MutableBorrow %u/%u: pattern", w[1],
                   w[2]);
        w[0] = MAGIC_REP;
        fill_pattern(w + HDR_WORDS, len - 4 * HDR_WORDS, nonce + 1);
        xous_envelope_set_offset_valid(env, nonce % 64, 16 + nonce % 1000);
}

/* Answers every call from its own arguments; checks each client's Scalars
 * come in order, once. */
static void server_main(void *p) {
        unsigned slot = (unsigned)(uintptr_t)p;
        uint32_t last_note[N_CLIENTS] = { 0 };
        char name[32];
        xous_sid_t sid;

        setenv("XOUS_SOCKET", hosts[server_host(slot)].xnsd.sock, 1);
        server_name(name, sizeof(name), slot);
        sid = server_register(name);
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;
                const uint32_t *a;

                EXPECT_OK(xous_receive_message(sid, &env));
                a = xous_envelope_args(env);
                switch (xous_envelope_id(env)) {
                case OP_BS:
                        EXPECT_OK(xous_return_scalar2(env, a[0] * 3 + 1, a[2]));
                        break;
                case OP_MUT:
                        server_mut(env);
                        break;
                case OP_NOTE:
                        EXPECT_MSG(a[0] < N_CLIENTS, "Scalar from client %u", a[0]);
                        EXPECT_MSG(a[1] > last_note[a[0]], "%s: Scalar %u of client %u after %u", name, a[1], a[0],
                                   last_note[a[0]]);
                        last_note[a[0]] = a[1];
                        break;
                default:
                        EXPECT_MSG(false, "%s: opcode %u", name, xous_envelope_id(env));
                }
                xous_envelope_drop(env);
        }
}

/* --- clients ---------------------------------------------------------------- */

struct client {
        unsigned id, host;
        uint64_t rng;
        uint32_t seq;                           /* of its calls, over all servers */
        uint32_t note_seq[N_SERVERS];
        xous_cid_t cid[N_SERVERS];              /* 0: none */
        struct client_state *st;
};

/* OK or SERVER_NOT_FOUND (then the connection is dropped): false for the latter. */
static bool client_result(struct client *c, unsigned slot, unsigned kind, xous_error_t e) {
        EXPECT_MSG(e == XOUS_OK || e == XOUS_ERR_SERVER_NOT_FOUND, "client %u, %s to svc.soak.%u: %s", c->id,
                   kind_names[kind], slot, harness_errname(e));
        if (e == XOUS_OK) {
                c->st->ok[kind]++;
                return true;
        }
        c->st->not_found[kind]++;
        if (c->cid[slot])
                xous_disconnect(c->cid[slot]);
        c->cid[slot] = 0;
        return false;
}

static void client_step_begin(struct client *c, unsigned kind, unsigned slot) {
        c->st->doing = kind << 8 | slot;
}

static bool client_connect(struct client *c, unsigned slot, bool wait) {
        char name[32];
        xous_error_t e;

        if (c->cid[slot])
                return true;
        server_name(name, sizeof(name), slot);
        client_step_begin(c, K_CONNECT, slot);
        e = wait ? xous_request_connection_blocking(name, &c->cid[slot])
                 : xous_request_connection(name, &c->cid[slot]);
        c->st->steps++;
        if (e != XOUS_OK)
                c->cid[slot] = 0;
        return client_result(c, slot, K_CONNECT, e);
}

static bool client_bs(struct client *c, unsigned slot) {
        uint32_t nonce = (uint32_t)splitmix(&c->rng), seq = ++c->seq;
        xous_scalar_reply_t reply = { 0 };
        xous_error_t e;

        client_step_begin(c, K_BS, slot);
        e = xous_blocking_scalar(c->cid[slot], OP_BS, nonce, c->id, seq, 0, &reply);
        c->st->steps++;
        if (!client_result(c, slot, K_BS, e))
                return false;
        EXPECT_MSG(reply.count == 2 && reply.v[0] == nonce * 3 + 1 && reply.v[1] == seq,
                   "client %u, BlockingScalar %u to svc.soak.%u: answer (%u: %u, %u), want (%u, %u)", c->id, seq,
                   slot, reply.count, reply.v[0], reply.v[1], nonce * 3 + 1, seq);
        return true;
}

static bool client_mut(struct client *c, unsigned slot) {
        uint32_t nonce = (uint32_t)splitmix(&c->rng), seq = ++c->seq, offset = 0, valid = 0;
        size_t len = (1 + rnd_below(&c->rng, MAX_PAGES)) * PAGE;
        xous_buf_t *buf = xous_buf_new(len);
        uint32_t *w;
        xous_error_t e;
        bool ok;

        EXPECT(buf);
        w = xous_buf_data(buf);
        memcpy(w, (uint32_t[HDR_WORDS]){ MAGIC_REQ, c->id, seq, nonce }, 4 * HDR_WORDS);
        fill_pattern(w + HDR_WORDS, len - 4 * HDR_WORDS, nonce);
        client_step_begin(c, K_MUT, slot);
        e = xous_lend_mut(c->cid[slot], OP_MUT, buf, &offset, &valid);
        c->st->steps++;
        ok = client_result(c, slot, K_MUT, e);
        if (ok)
                EXPECT_MSG(w[0] == MAGIC_REP && w[1] == c->id && w[2] == seq && w[3] == nonce &&
                                   check_pattern(w + HDR_WORDS, len - 4 * HDR_WORDS, nonce + 1) &&
                                   offset == nonce % 64 && valid == 16 + nonce % 1000,
                           "client %u, MutableBorrow %u to svc.soak.%u: not its answer (header %x %u %u)", c->id,
                           seq, slot, w[0], w[1], w[2]);
        xous_buf_free(buf);
        return ok;
}

static void client_note(struct client *c, unsigned slot) {
        xous_error_t e;

        client_step_begin(c, K_NOTE, slot);
        e = xous_send_scalar(c->cid[slot], OP_NOTE, c->id, ++c->note_seq[slot], 0, 0);
        c->st->steps++;
        client_result(c, slot, K_NOTE, e);
}

/* A server of another host. */
static unsigned client_pick(struct client *c) {
        for (;;) {
                unsigned slot = rnd_below(&c->rng, N_SERVERS);

                if (server_host(slot) != c->host)
                        return slot;
        }
}

/* After the faults: a fresh connection to every server of another host
 * (waiting for its name), and a call of each blocking kind answered. */
static void client_heal(struct client *c) {
        for (unsigned slot = 0; slot < N_SERVERS; slot++) {
                if (server_host(slot) == c->host)
                        continue;
                if (c->cid[slot])
                        xous_disconnect(c->cid[slot]);
                c->cid[slot] = 0;
                EXPECT_MSG(client_connect(c, slot, true), "client %u: svc.soak.%u not found after the faults",
                           c->id, slot);
                EXPECT_MSG(client_bs(c, slot) && client_mut(c, slot),
                           "client %u: svc.soak.%u not answering after the faults", c->id, slot);
        }
        c->st->healed = true;
}

static void client_main(void *p) {
        struct client c = { .id = (unsigned)(uintptr_t)p };

        c.host = c.id % HOSTS;
        c.rng = seed ^ (0x1000003ull * (c.id + 1));
        c.st = &sh->cli[c.id];
        setenv("XOUS_SOCKET", hosts[c.host].xnsd.sock, 1);
        while (sh->phase == PHASE_RUN) {
                unsigned slot = client_pick(&c), kind = rnd_below(&c.rng, 10);

                if (!client_connect(&c, slot, false)) {
                        sleep_ms(20);   /* replaced, or its host's gateway away */
                        continue;
                }
                if (kind < 5)
                        client_bs(&c, slot);
                else if (kind < 7)
                        client_mut(&c, slot);
                else
                        client_note(&c, slot);
        }
        client_heal(&c);
        while (sh->phase != PHASE_STOP)
                sleep_ms(10);
}

/* --- the test process: members, watching, faults ------------------------------ */

static struct proc servers[N_SERVERS], clients[N_CLIENTS];
static uint64_t last_steps[N_CLIENTS], last_step_ms[N_CLIENTS];
static unsigned faults[FAULTS], nats_restart_failed;
static bool own_gateway[HOSTS];         /* started by the test process: its child */

static void server_start(unsigned slot) {
        proc_start(&servers[slot], "server", server_main, (void *)(uintptr_t)slot);
        if (!proc_recv_timeout(&servers[slot], &(xous_sid_t){ 0 }, sizeof(xous_sid_t), REGISTER_MS + 5000))
                harness_fail_at(__FILE__, __LINE__, "svc.soak.%u: not registered", slot);
}

/* Fails the test when a child died on its own (a failed check). */
static void check_alive(struct proc *p) {
        char text[1200] = "";
        ssize_t n;

        if (p->reaped || waitpid(p->pid, &p->status, WNOHANG) != p->pid)
                return;
        p->reaped = true;
        n = read(p->err, text, sizeof(text) - 1);
        text[n > 0 ? n : 0] = 0;
        harness_fail_at(__FILE__, __LINE__, "%s %d died (status 0x%x): %s", p->name, (int)p->pid, p->status, text);
}

/* Every member alive, every client making progress. */
static void watch(void) {
        uint64_t now = now_ms();

        for (unsigned i = 0; i < N_SERVERS; i++)
                check_alive(&servers[i]);
        for (unsigned i = 0; i < N_CLIENTS; i++) {
                uint64_t steps = sh->cli[i].steps;
                uint32_t doing = sh->cli[i].doing;

                check_alive(&clients[i]);
                if (steps != last_steps[i] || sh->cli[i].healed) {
                        last_steps[i] = steps;
                        last_step_ms[i] = now;
                        continue;
                }
                EXPECT_MSG(now - last_step_ms[i] < STALL_MS,
                           "client %u on host %s: no progress for %llu ms, in a %s to svc.soak.%u (seed %llu)", i,
                           host_names[i % HOSTS], (unsigned long long)(now - last_step_ms[i]),
                           kind_names[doing >> 8], doing & 0xff, (unsigned long long)seed);
        }
}

static void watch_for(int ms) {
        for (uint64_t end = now_ms() + (uint64_t)ms; now_ms() < end; sleep_ms(50))
                watch();
}

static void gateway_restart(unsigned h) {
        char why[1024];

        EXPECT_MSG(test_host_gateway_restart(&hosts[h], START_MS, why, sizeof(why)) == 0, "%s", why);
        own_gateway[h] = true;
}

static void nats_kill_restart(uint64_t *rng) {
        unsigned i = rnd_below(rng, nats.n);
        char why[600];
        int r;

        fprintf(stderr, "         NATS node %s\n", nats.node[i].name);
        EXPECT(test_nats_signal(&nats, i, SIGKILL) == 0);
        watch_for(200 + (int)rnd_below(rng, 800));
        r = test_nats_restart(&nats, i, getenv("NATS_SERVER"), START_MS, why, sizeof(why));
        if (r == -ECHILD) {     /* its port taken meanwhile: two nodes keep the quorum */
                fprintf(stderr, "NATS node %s stays down: %s\n", nats.node[i].name, why);
                nats_restart_failed++;
                return;
        }
        EXPECT_MSG(r == 0, "NATS node %s: %s", nats.node[i].name, why);
}

/* The next fault: each kind once in every FAULTS, in a shuffled order. */
static unsigned next_fault(uint64_t *rng) {
        static unsigned deck[FAULTS], dealt = FAULTS;

        if (dealt == FAULTS) {
                for (unsigned i = 0; i < FAULTS; i++)
                        deck[i] = i;
                for (unsigned i = FAULTS - 1; i > 0; i--) {
                        unsigned j = rnd_below(rng, i + 1), t = deck[i];

                        deck[i] = deck[j];
                        deck[j] = t;
                }
                dealt = 0;
        }
        return deck[dealt++];
}

static void inject_fault(uint64_t *rng, uint64_t t0) {
        unsigned f = next_fault(rng), h = rnd_below(rng, HOSTS), slot = rnd_below(rng, N_SERVERS);

        if (f == F_NATS_KILL && nats_restart_failed)
                f = F_GW_STOP;
        faults[f]++;
        fprintf(stderr, "%6.1f s: %s (host %s, svc.soak.%u)\n", (double)(now_ms() - t0) / 1000, fault_names[f],
                host_names[h], slot);
        switch (f) {
        case F_GW_KILL:
                gateway_restart(h);
                break;
        case F_GW_STOP:
                kill(hosts[h].gw_pid, SIGSTOP);
                watch_for(FREEZE_MS);
                kill(hosts[h].gw_pid, SIGCONT);
                break;
        case F_NATS_KILL:
                nats_kill_restart(rng);
                break;
        case F_SERVER_KILL:
                proc_kill(&servers[slot]);
                server_start(slot);
                break;
        }
}

/* Faults over: every gateway attached and hearing the other hosts. */
static void wait_cluster_whole(void) {
        char why[1024];

        for (unsigned i = 0; i < HOSTS; i++) {
                const char *others[HOSTS] = { NULL };
                pid_t pid = 0;

                for (uint64_t deadline = now_ms() + START_MS;; sleep_ms(10)) {
                        if (test_host_gateway_attached(hosts[i].xnsd.sock, &pid) == 0 && pid == hosts[i].gw_pid)
                                break;
                        EXPECT_MSG(now_ms() < deadline, "host %s: gateway %d not attached (%d)", host_names[i],
                                   (int)hosts[i].gw_pid, (int)pid);
                }
                for (unsigned j = 0, n = 0; j < HOSTS; j++)
                        if (j != i)
                                others[n++] = host_names[j];
                EXPECT_MSG(test_host_wait_heard(&hosts[i], others, START_MS, why, sizeof(why)) == 0, "%s", why);
        }
}

static void report(void) {
        unsigned ok[KINDS] = { 0 }, nf[KINDS] = { 0 };

        for (unsigned i = 0; i < N_CLIENTS; i++)
                for (unsigned k = 0; k < KINDS; k++) {
                        ok[k] += sh->cli[i].ok[k];
                        nf[k] += sh->cli[i].not_found[k];
                }
        fprintf(stderr, "cluster soak: %u s, seed %llu\n", seconds, (unsigned long long)seed);
        for (unsigned k = 0; k < KINDS; k++)
                fprintf(stderr, "  %-15s %8u ok %6u not found\n", kind_names[k], ok[k], nf[k]);
        for (unsigned f = 0; f < FAULTS; f++)
                fprintf(stderr, "  %-18s %4u\n", fault_names[f], faults[f]);
        if (nats_restart_failed)
                fprintf(stderr, "  a NATS node could not start again and stayed down\n");
}

/* Fails the test when it left a child behind, saying which. */
static void expect_no_children(void) {
        char path[64], list[256] = "", comm[64] = "";
        int status;
        pid_t r;
        FILE *f;

        r = waitpid(-1, &status, WNOHANG);
        if (r < 0 && errno == ECHILD)
                return;
        snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
        f = fopen(path, "re");
        if (f) {
                if (!fgets(list, sizeof(list), f))
                        list[0] = 0;
                fclose(f);
        }
        snprintf(path, sizeof(path), "/proc/%d/comm", atoi(list));
        f = fopen(path, "re");
        if (f) {
                if (!fgets(comm, sizeof(comm), f))
                        comm[0] = 0;
                fclose(f);
        }
        harness_fail_at(__FILE__, __LINE__, "the test left child processes behind: reaped %d (status 0x%x), "
                        "running: %s (first: %s)", (int)r, r > 0 ? status : 0, list, comm);
}

/* Stops what the test process started itself, by pid: its members, the
 * gateways and NATS nodes it started again (the runner stops the rest). */
static void stop_own(void) {
        int status;

        for (unsigned i = 0; i < N_CLIENTS; i++)
                proc_wait_exit(&clients[i], 0);
        for (unsigned i = 0; i < N_SERVERS; i++)
                proc_kill(&servers[i]);
        for (unsigned h = 0; h < HOSTS; h++)
                if (own_gateway[h])
                        test_host_gateway_stop(&hosts[h]);
        for (unsigned i = 0; i < nats.n; i++)
                if (waitpid(nats.node[i].pid, &status, WNOHANG) == 0) {        /* ours, and running */
                        kill(nats.node[i].pid, SIGTERM);
                        if (wait_child(nats.node[i].pid, &status, 5000) == 0) {
                                kill(nats.node[i].pid, SIGKILL);
                                wait_child(nats.node[i].pid, &status, 5000);
                        }
                }
        expect_no_children();
}

START_TEST(cluster_soak) {
        uint64_t rng = seed, t0, end;

        sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        EXPECT(sh != MAP_FAILED);
        for (unsigned i = 0; i < N_SERVERS; i++)
                server_start(i);
        for (unsigned i = 0; i < N_CLIENTS; i++) {
                proc_start(&clients[i], "client", client_main, (void *)(uintptr_t)i);
                last_step_ms[i] = now_ms();
        }
        t0 = now_ms();
        end = t0 + seconds * 1000ull;
        while (now_ms() < end) {
                watch_for(FAULT_MIN_MS + (int)rnd_below(&rng, FAULT_MAX_MS - FAULT_MIN_MS));
                inject_fault(&rng, t0);
        }
        wait_cluster_whole();
        sh->phase = PHASE_FINAL;
        for (uint64_t deadline = now_ms() + HEAL_MS;; watch_for(50)) {
                unsigned healed = 0;

                for (unsigned i = 0; i < N_CLIENTS; i++)
                        healed += sh->cli[i].healed;
                if (healed == N_CLIENTS)
                        break;
                EXPECT_MSG(now_ms() < deadline, "only %u of %u clients reached every server after the faults",
                           healed, N_CLIENTS);
        }
        sh->phase = PHASE_STOP;
        report();
        stop_own();
        munmap(sh, sizeof(*sh));
}
END_TEST

/* --- fixture: the NATS cluster and the hosts, in the runner ------------------- */

static void cluster_start(void) {
        struct test_nats_config cfg = {
                .exe = getenv("NATS_SERVER"), .nodes = 3, .jetstream = true,
                .dir_template = "/tmp/xns-nats-XXXXXX", .timeout_ms = START_MS,
        };
        char why[1024];

        if (test_nats_start(&nats, &cfg, why, sizeof(why)) < 0)
                ck_abort_msg("NATS cluster: %s", why);
        snprintf(nats_urls, sizeof(nats_urls), "%s,%s,%s", nats.node[0].url, nats.node[1].url, nats.node[2].url);
        for (unsigned i = 0; i < HOSTS; i++)
                if (test_host_start(&hosts[i], host_names[i], nats_urls, exports, START_MS, why, sizeof(why)) < 0)
                        ck_abort_msg("host %s: %s", host_names[i], why);
        for (unsigned i = 0; i < HOSTS; i++) {
                const char *others[HOSTS] = { NULL };

                for (unsigned j = 0, n = 0; j < HOSTS; j++)
                        if (j != i)
                                others[n++] = host_names[j];
                if (test_host_wait_heard(&hosts[i], others, START_MS, why, sizeof(why)) < 0)
                        ck_abort_msg("%s", why);
        }
}

static char dirs[HOSTS + 1][128];       /* to check none is left behind */

static void cluster_stop(void) {
        int status;

        for (unsigned i = 0; i < HOSTS; i++) {
                snprintf(dirs[i], sizeof(dirs[i]), "%s", hosts[i].xnsd.dir);
                test_host_stop(&hosts[i]);
        }
        snprintf(dirs[HOSTS], sizeof(dirs[HOSTS]), "%s", nats.dir);
        test_nats_stop(&nats, 5000);
        test_nats_remove_dir(&nats);
        while (waitpid(-1, &status, WNOHANG) > 0)       /* orphans of a failed test */
                ;
}

static unsigned env_uint(const char *name, unsigned dflt) {
        const char *v = getenv(name);

        return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

int main(void) {
        Suite *s = suite_create("cluster-soak");
        const char *v = getenv("XNS_SOAK_SEED");
        struct stat st;
        int r;

        if (!getenv("NATS_SERVER") || !*getenv("NATS_SERVER") || !getenv("XNSGW")) {
                fprintf(stderr, "no nats-server or xnsgw: skipped\n");
                return 77;
        }
        seconds = env_uint("XNS_SOAK_SECONDS", DEFAULT_SECONDS);
        if (v && *v)
                seed = strtoull(v, NULL, 0);
        else if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
                seed = (uint64_t)now_ms();
        fprintf(stderr, "cluster soak: %u s, seed %llu (XNS_SOAK_SEED replays)\n", seconds,
                (unsigned long long)seed);
        /* setup in the runner; the test: its seconds, healing, stopping */
        add_fixture_test(s, cluster_soak, cluster_start, cluster_stop, (int)seconds + 180);
        r = harness_run(s);
        for (unsigned i = 0; i <= HOSTS; i++)
                if (dirs[i][0] && stat(dirs[i], &st) == 0) {
                        fprintf(stderr, "left behind: %s\n", dirs[i]);
                        r = EXIT_FAILURE;
                }
        return r;
}
