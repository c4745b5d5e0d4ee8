/* test-cluster.c: xns across hosts: three hosts on this machine (an xnsd and
 * an xnsgw each) joined by a real three-node NATS cluster with JetStream. */
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "hosts.h"
#include "nats.h"

#define HOSTS 3
#define START_MS 20000
#define WAKE_MS 1000            /* a caller blocked on a host that fails hears so within this */
#define RACE_ROUNDS 16          /* blocking lookups raced against their registration */

static struct test_nats nats = TEST_NATS_INIT;
static char nats_urls[256];
static struct test_host hosts[HOSTS] = { TEST_HOST_INIT, TEST_HOST_INIT, TEST_HOST_INIT };
static const char *const exports[] = { "svc*", NULL };
static const char *const host_names[HOSTS] = { "a", "b", "c" };

/* --- fixtures: the NATS cluster is the runner's for the whole suite; each
 * test case starts its hosts afresh (in the runner, which stops them even
 * when the test failed). A test case that kills NATS nodes has a NATS
 * cluster of its own (own_nats), so the shared one stays whole. ---------- */

static struct test_nats own_nats = TEST_NATS_INIT;
static char own_nats_urls[256];
static const char *cur_urls = nats_urls;        /* the cluster the hosts join */
static char policy_path[64];

static void hosts_start_args(const char *const *xnsd_extra_a) {
        char why[1024];

        for (unsigned i = 0; i < HOSTS; i++)
                if (test_host_start_args(&hosts[i], host_names[i], cur_urls, exports, i == 0 ? xnsd_extra_a : NULL,
                                         START_MS, why, sizeof(why)) < 0)
                        ck_abort_msg("host %s: %s", host_names[i], why);
        /* until every gateway has heard every host: a name of a host not
         * heard yet is not found */
        for (unsigned i = 0; i < HOSTS; i++) {
                const char *others[HOSTS] = { NULL };

                for (unsigned j = 0, n = 0; j < HOSTS; j++)
                        if (j != i)
                                others[n++] = host_names[j];
                if (test_host_wait_heard(&hosts[i], others, START_MS, why, sizeof(why)) < 0)
                        ck_abort_msg("%s", why);
        }
}

static void hosts_start(void) {
        hosts_start_args(NULL);
}

static void hosts_stop(void) {
        int status;

        for (unsigned i = 0; i < HOSTS; i++)
                test_host_stop(&hosts[i]);
        /* what a test started and left behind when it failed (killed with
         * it, reparented here: the runner is a subreaper) */
        while (waitpid(-1, &status, WNOHANG) > 0)
                ;
}

static void nats_cluster_urls(const struct test_nats *c, char *buf, size_t size) {
        snprintf(buf, size, "%s,%s,%s", c->node[0].url, c->node[1].url, c->node[2].url);
}

/* A NATS cluster of the test case's own, and the hosts on it. */
static void own_nats_hosts_start(void) {
        struct test_nats_config cfg = {
                .exe = getenv("NATS_SERVER"), .nodes = 3, .jetstream = true,
                .dir_template = "/tmp/xns-nats-XXXXXX", .timeout_ms = START_MS,
        };
        char why[600];

        own_nats = (struct test_nats)TEST_NATS_INIT;
        if (test_nats_start(&own_nats, &cfg, why, sizeof(why)) < 0)
                ck_abort_msg("own NATS cluster: %s", why);
        nats_cluster_urls(&own_nats, own_nats_urls, sizeof(own_nats_urls));
        cur_urls = own_nats_urls;
        hosts_start();
}

static void own_nats_hosts_stop(void) {
        hosts_stop();
        test_nats_stop(&own_nats, 5000);
        test_nats_remove_dir(&own_nats);
        cur_urls = nats_urls;
}

/* Host a's xnsd with a policy: svc.pol is for the processes of host c. */
static void policy_hosts_start(void) {
        const char *extra[] = { "--policy", policy_path, NULL };
        FILE *f;

        snprintf(policy_path, sizeof(policy_path), "/tmp/xns-gwpolicy-%d", (int)getpid());
        f = fopen(policy_path, "we");
        if (!f || fputs("connect svc.pol host=c\n", f) < 0 || fclose(f) != 0)
                ck_abort_msg("cannot write %s", policy_path);
        hosts_start_args(extra);
}

static void policy_hosts_stop(void) {
        hosts_stop();
        unlink(policy_path);
}

/* In a child: talk to host i's xnsd from now on. */
static void on_host(unsigned i) {
        setenv("XOUS_SOCKET", hosts[i].xnsd.sock, 1);
}

/* --- children ------------------------------------------------------------ */

struct reg_arg {
        unsigned host;
        const char *name;
        bool go;                /* wait for the parent's word before registering */
};

/* Registers a name on a host, says how it went (and the SID), then stays
 * until the parent says go. */
static void registrar(void *p) {
        struct reg_arg *a = p;
        xous_sid_t sid = { 0 };
        xous_error_t e;

        on_host(a->host);
        if (a->go)
                parent_recv_u32();
        e = xous_register_name(a->name, 0, &sid);
        parent_send_u32(e);
        parent_send_sid(sid);
        parent_recv_u32();
}

struct echo_arg {
        unsigned host;
        const char *name;
};

/* The kinds server: answers every kind in a way the caller can check. */
#define OP_SCALAR 1
#define OP_BS1 2
#define OP_BS2 3
#define OP_BS5 4
#define OP_BORROW 5
#define OP_MUT 6
#define OP_MOVE 7
#define OP_REPORT 8     /* BlockingScalar: the last Scalar's a1 and sender pid */
#define OP_MUT_PAGES 9  /* MutableBorrow: flips byte 7 of pages offset and valid */

/* Flips byte 7 of page at[i], for each one the buffer has. */
static void flip_pages(uint8_t *data, size_t len, const uint32_t at[2]) {
        for (unsigned i = 0; i < 2; i++)
                if (at[i] < len / PAGE)
                        data[(size_t)at[i] * PAGE + 7] ^= 0xff;
}

static void kinds_server(void *p) {
        struct echo_arg *a = p;
        uint32_t last_scalar = 0, last_pid = 0;
        xous_sid_t sid;

        on_host(a->host);
        EXPECT_OK(xous_register_name(a->name, 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;
                const uint32_t *arg;

                EXPECT_OK(xous_receive_message(sid, &env));
                arg = xous_envelope_args(env);
                switch (xous_envelope_id(env)) {
                case OP_SCALAR:
                        last_scalar = arg[0];
                        last_pid = xous_envelope_sender_pid(env);
                        break;
                case OP_BS1:
                        EXPECT_OK(xous_return_scalar(env, arg[0] + arg[1] + arg[2] + arg[3]));
                        break;
                case OP_BS2:
                        EXPECT_OK(xous_return_scalar2(env, arg[0] * 2, arg[1] * 3));
                        break;
                case OP_BS5:
                        EXPECT_OK(xous_return_scalar5(env, (const uint32_t[5]){ 1, 2, 3, 4, arg[0] }));
                        break;
                /* memory kinds: the pattern's seed comes as the offset */
                case OP_BORROW:
                        EXPECT(check_pattern(xous_envelope_buf(env), xous_envelope_buf_len(env),
                                             xous_envelope_offset(env)));
                        break;
                case OP_MUT:
                        EXPECT(check_pattern(xous_envelope_buf(env), xous_envelope_buf_len(env),
                                             xous_envelope_offset(env)));
                        fill_pattern(xous_envelope_buf(env), xous_envelope_buf_len(env),
                                     xous_envelope_offset(env) + 1);
                        xous_envelope_set_offset_valid(env, 16, 1000);
                        break;
                case OP_MOVE:
                        EXPECT(check_pattern(xous_envelope_buf(env), xous_envelope_buf_len(env),
                                             xous_envelope_offset(env)));
                        last_scalar = xous_envelope_offset(env);
                        break;
                case OP_MUT_PAGES:
                        flip_pages(xous_envelope_buf(env), xous_envelope_buf_len(env),
                                   (uint32_t[]){ xous_envelope_offset(env), xous_envelope_valid(env) });
                        break;
                case OP_REPORT:
                        EXPECT_OK(xous_return_scalar2(env, last_scalar, last_pid));
                        break;
                case ECHO_QUIT:
                        EXPECT_OK(xous_return_scalar(env, 0));
                        xous_envelope_drop(env);
                        return;
                }
                xous_envelope_drop(env);
        }
}

/* A server that takes messages and never answers them (deferred forever). */
static void silent_server(void *p) {
        struct echo_arg *a = p;
        xous_envelope_t *kept[16];
        unsigned n = 0;
        xous_sid_t sid;

        on_host(a->host);
        EXPECT_OK(xous_register_name(a->name, 0, &sid));
        parent_send_sid(sid);
        /* until its xnsd goes (UNAVAILABLE), or it is killed */
        while (xous_receive_message(sid, &kept[n % 16]) == XOUS_OK)
                parent_send_u32(++n);
}

struct call_arg {
        unsigned host;
        const char *name;
};

/* Connects to a name (waiting for it anywhere), says so, then makes one
 * BlockingScalar and reports its result and how long it took. */
static void blocked_caller(void *p) {
        struct call_arg *a = p;
        xous_scalar_reply_t reply;
        xous_cid_t cid;
        uint64_t t0;
        uint32_t out[2];

        on_host(a->host);
        EXPECT_OK(xous_request_connection_blocking(a->name, &cid));
        parent_send_u32(cid);
        parent_recv_u32();
        t0 = now_ms();
        out[0] = xous_blocking_scalar(cid, 1, 2, 3, 4, 5, &reply);
        out[1] = (uint32_t)(now_ms() - t0);
        parent_send(out, sizeof(out));
}

/* --- names ------------------------------------------------------------------ */

static xous_error_t register_on(struct proc *p, unsigned host, const char *name) {
        struct reg_arg a = { .host = host, .name = name };
        xous_error_t e;

        proc_start(p, "registrar", registrar, &a);
        e = proc_recv_u32(p);
        proc_recv_sid(p);
        return e;
}

static void release(struct proc *p) {
        proc_send_u32(p, 1);
        proc_wait_exit(p, 0);
}

/* Registers name on host as soon as the cluster lets it (SERVER_EXISTS
 * until then), within limit_ms; p then holds it. */
static void register_once_free(struct proc *p, unsigned host, const char *name, unsigned limit_ms) {
        for (uint64_t deadline = now_ms() + limit_ms;;) {
                xous_error_t e = register_on(p, host, name);

                if (e == XOUS_OK)
                        return;
                EXPECT_ERR(e, XOUS_ERR_SERVER_EXISTS);
                release(p);
                EXPECT_MSG(now_ms() < deadline, "%s still taken after %u ms", name, limit_ms);
                sleep_ms(50);
        }
}

START_TEST(exported_name_is_unique_across_hosts) {
        struct proc a, b, la, lb;

        EXPECT_ERR(register_on(&a, 0, "svc.unique"), XOUS_OK);
        EXPECT_ERR(register_on(&b, 1, "svc.unique"), XOUS_ERR_SERVER_EXISTS);
        release(&b);
        /* other names stay their host's own */
        EXPECT_ERR(register_on(&la, 0, "local.only"), XOUS_OK);
        EXPECT_ERR(register_on(&lb, 1, "local.only"), XOUS_OK);
        release(&la);
        release(&lb);
        release(&a);
}
END_TEST

START_TEST(concurrent_registrations_one_wins) {
        for (unsigned round = 0; round < 10; round++) {
                char name[32];
                struct reg_arg ra, rb;
                struct proc a, b;
                xous_error_t ea, eb;

                snprintf(name, sizeof(name), "svc.race.%u", round);
                ra = (struct reg_arg){ .host = 0, .name = name, .go = true };
                rb = (struct reg_arg){ .host = 1 + round % 2, .name = name, .go = true };
                proc_start(&a, "racer-a", registrar, &ra);
                proc_start(&b, "racer-b", registrar, &rb);
                proc_send_u32(&a, 1);
                proc_send_u32(&b, 1);
                ea = proc_recv_u32(&a);
                eb = proc_recv_u32(&b);
                proc_recv_sid(&a);
                proc_recv_sid(&b);
                EXPECT_MSG((ea == XOUS_OK) != (eb == XOUS_OK) &&
                                   (ea == XOUS_ERR_SERVER_EXISTS || eb == XOUS_ERR_SERVER_EXISTS),
                           "round %u: %s and %s", round, harness_errname(ea), harness_errname(eb));
                release(&a);
                release(&b);
        }
}
END_TEST

/* A name that goes on one host may be taken on another. */
static void lookup_not_found(void *p) {
        xous_cid_t cid;

        on_host(*(unsigned *)p);
        EXPECT_ERR(xous_request_connection("svc.nowhere", &cid), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_ERR(xous_request_connection("local.nowhere", &cid), XOUS_ERR_SERVER_NOT_FOUND);
}

START_TEST(released_name_may_move) {
        struct proc a, b, c;
        unsigned host = 2;

        EXPECT_ERR(register_on(&a, 0, "svc.moving"), XOUS_OK);
        release(&a);
        /* the owner is gone: its host released the name (retry until the
         * release is through, bounded) */
        register_once_free(&b, 1, "svc.moving", 5000);
        proc_start(&c, "lookup", lookup_not_found, &host);
        proc_wait_exit(&c, 0);
        release(&b);
}
END_TEST

/* --- every kind across hosts -------------------------------------------------- */

/*
 * A buffer of pages pages filled from seed, lent (the server checks it by
 * the seed it gets as offset; it comes back unchanged), then lent mutably
 * (the server refills it from seed + 1 and answers offset 16, valid 1000).
 */
static void lend_both(xous_cid_t cid, uint32_t borrow_op, uint32_t mut_op, uint32_t pages, uint32_t seed) {
        xous_buf_t *buf = xous_buf_new(pages * PAGE);
        uint32_t offset = seed, valid = 0;

        EXPECT(buf);
        fill_pattern(xous_buf_data(buf), pages * PAGE, seed);
        EXPECT_OK(xous_lend(cid, borrow_op, buf, seed, pages * PAGE));
        EXPECT(check_pattern(xous_buf_data(buf), pages * PAGE, seed));
        EXPECT_OK(xous_lend_mut(cid, mut_op, buf, &offset, &valid));
        EXPECT(check_pattern(xous_buf_data(buf), pages * PAGE, seed + 1));
        EXPECT_EQ(offset, 16);
        EXPECT_EQ(valid, 1000);
        xous_buf_free(buf);
}

/* A MutableBorrow of six pages whose server changes a byte in pages first
 * and last (none past the buffer): those bytes come back changed, all the
 * others as lent (the gateways carry back only the pages from the first
 * changed one to the last). */
static void lend_mut_pages(xous_cid_t cid, uint32_t first, uint32_t last) {
        enum { PAGES = 6 };
        static uint8_t want[PAGES * PAGE];
        xous_buf_t *buf = xous_buf_new(PAGES * PAGE);
        uint32_t offset = first, valid = last;

        EXPECT(buf);
        fill_pattern(xous_buf_data(buf), PAGES * PAGE, 21);
        memcpy(want, xous_buf_data(buf), sizeof(want));
        flip_pages(want, sizeof(want), (uint32_t[]){ first, last });
        EXPECT_OK(xous_lend_mut(cid, OP_MUT_PAGES, buf, &offset, &valid));
        EXPECT_MSG(memcmp(xous_buf_data(buf), want, sizeof(want)) == 0, "pages %u and %u: wrong bytes back",
                   first, last);
        xous_buf_free(buf);
}

static void remote_kinds_client(void *p) {
        const struct echo_arg *a = p;
        xous_scalar_reply_t reply;
        xous_buf_t *buf;
        uint32_t offset = 0, valid = 0;
        xous_cid_t cid;

        on_host(a->host);
        EXPECT_OK(xous_request_connection_blocking(a->name, &cid));
        EXPECT_OK(xous_blocking_scalar(cid, OP_BS1, 1, 2, 3, 4, &reply));
        EXPECT_EQ(reply.count, 1);
        EXPECT_EQ(reply.v[0], 10);
        EXPECT_OK(xous_blocking_scalar(cid, OP_BS2, 21, 5, 0, 0, &reply));
        EXPECT_EQ(reply.count, 2);
        EXPECT_EQ(reply.v[0], 42);
        EXPECT_EQ(reply.v[1], 15);
        EXPECT_OK(xous_blocking_scalar(cid, OP_BS5, 0xFFFFFFFFu, 0, 0, 0, &reply));
        EXPECT_EQ(reply.count, 5);
        EXPECT_EQ(reply.v[4], 0xFFFFFFFFu);
        /* Scalars keep their order, and the server sees the caller's pid */
        for (uint32_t i = 1; i <= 100; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_SCALAR, i, 0, 0, 0));
        EXPECT_OK(xous_blocking_scalar(cid, OP_REPORT, 0, 0, 0, 0, &reply));
        EXPECT_EQ(reply.v[0], 100);
        EXPECT_EQ(reply.v[1], getpid());
        lend_both(cid, OP_BORROW, OP_MUT, 3, 7);
        lend_mut_pages(cid, 2, 3);
        lend_mut_pages(cid, 0, 5);
        lend_mut_pages(cid, 4, 4);
        lend_mut_pages(cid, UINT32_MAX, UINT32_MAX);
        /* a Move of 1 MiB + a page: more than one NATS message holds */
        buf = xous_buf_new((1u << 20) + PAGE);
        fill_pattern(xous_buf_data(buf), (1u << 20) + PAGE, 9);
        EXPECT_OK(xous_send(cid, OP_MOVE, buf, 9, 0));
        EXPECT_OK(xous_blocking_scalar(cid, OP_REPORT, 0, 0, 0, 0, &reply));
        EXPECT_EQ(reply.v[0], 9);
        /* a big MutableBorrow */
        buf = xous_buf_new(4u << 20);
        fill_pattern(xous_buf_data(buf), 4u << 20, 11);
        offset = 11;
        EXPECT_OK(xous_lend_mut(cid, OP_MUT, buf, &offset, &valid));
        EXPECT(check_pattern(xous_buf_data(buf), 4u << 20, 12));
        xous_buf_free(buf);
        EXPECT_OK(xous_blocking_scalar(cid, ECHO_QUIT, 0, 0, 0, 0, &reply));
}

START_TEST(every_kind_across_hosts) {
        struct echo_arg sa = { .host = 0, .name = "svc.kinds" }, ca = { .host = 1, .name = "svc.kinds" };
        struct proc server, client;

        proc_start(&server, "kinds", kinds_server, &sa);
        proc_recv_sid(&server);
        proc_start(&client, "client", remote_kinds_client, &ca);
        proc_wait_exit(&client, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

/* The blocking lookup waits for a registration on any host. */
START_TEST(blocking_lookup_waits_for_another_host) {
        /* A name no test before registered on another host: a previous
         * test's gateway may have stopped before it released its claim
         * (see the note on stale claims in the README). */
        struct echo_arg sa = { .host = 2, .name = "svc.kinds.later" }, ca = { .host = 0, .name = "svc.kinds.later" };
        struct proc server, client;

        proc_start(&client, "client", remote_kinds_client, &ca);        /* waits for svc.kinds.later */
        for (uint64_t deadline = now_ms() + HARNESS_WAIT_MS; !proc_waits_for_xnsd(client.pid);) {
                EXPECT_MSG(now_ms() < deadline, "the client never waited for svc.kinds");
                sleep_ms(1);
        }
        proc_start(&server, "kinds", kinds_server, &sa);
        proc_recv_sid(&server);
        proc_wait_exit(&client, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

START_TEST(not_found_at_once) {
        struct proc c;
        unsigned host = 1;

        proc_start(&c, "lookup", lookup_not_found, &host);
        proc_wait_exit(&c, 0);
}
END_TEST

/* --- SIDs anywhere: the async-push idiom across hosts -------------------------- */

static void anon_server(void *p) {
        xous_sid_t sid;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_create_server(&sid));
        parent_send_sid(sid);
        echo_serve(sid);
}

static void sid_caller(void *p) {
        xous_scalar_reply_t reply;
        xous_sid_t sid;
        xous_cid_t cid;

        on_host(*(unsigned *)p);
        sid = parent_recv_sid();
        EXPECT_OK(xous_connect(sid, &cid));
        EXPECT_OK(xous_blocking_scalar(cid, 1, 41, 0, 0, 0, &reply));
        EXPECT_EQ(reply.v[0], 42);
        EXPECT_OK(xous_blocking_scalar(cid, ECHO_QUIT, 0, 0, 0, 0, &reply));
}

START_TEST(sid_connects_from_another_host) {
        struct proc server, client;
        unsigned sh = 1, ch = 2;
        xous_sid_t sid;

        proc_start(&server, "anon", anon_server, &sh);
        sid = proc_recv_sid(&server);
        proc_start(&client, "caller", sid_caller, &ch);
        proc_send_sid(&client, sid);
        proc_wait_exit(&client, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

/* --- a full remote queue pushes back ------------------------------------------ */

/* Registers svc.full, receives nothing until the parent says so, then takes
 * Scalars until it has as many as the parent says were sent, checking that
 * they come in order, and reports the count. */
static void late_server(void *p) {
        xous_sid_t sid;
        uint32_t want, got = 0;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_register_name("svc.full", 0, &sid));
        parent_send_sid(sid);
        want = parent_recv_u32();
        while (got < want) {
                xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(sid, &env));
                EXPECT_EQ(xous_envelope_args(env)[0], got);
                got++;
                xous_envelope_drop(env);
        }
        parent_send_u32(got);
}

/* try_send_scalar until SERVER_QUEUE_FULL (bounded), reports how many got in;
 * then a waiting send that completes once the server drains. */
static void flooding_caller(void *p) {
        xous_cid_t cid;
        uint32_t n = 0;
        xous_error_t e;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_request_connection_blocking("svc.full", &cid));
        while ((e = xous_try_send_scalar(cid, 1, n, 0, 0, 0)) == XOUS_OK) {
                n++;
                EXPECT_MSG(n < 5000, "5000 Scalars went to a server that takes none: no pushback");
        }
        EXPECT_ERR(e, XOUS_ERR_SERVER_QUEUE_FULL);
        parent_send_u32(n);
        EXPECT_OK(xous_send_scalar(cid, 1, n, 0, 0, 0));       /* waits for room */
        parent_send_u32(n + 1);
}

START_TEST(full_remote_queue_pushes_back) {
        struct proc server, caller;
        unsigned sh = 0, ch = 1;
        uint32_t queued, sent;

        proc_start(&server, "late", late_server, &sh);
        proc_recv_sid(&server);
        proc_start(&caller, "flood", flooding_caller, &ch);
        queued = proc_recv_u32(&caller);
        fprintf(stderr, "%u Scalars in flight before SERVER_QUEUE_FULL\n", queued);
        proc_send_u32(&server, queued + 1);
        sent = proc_recv_u32(&caller);
        EXPECT_EQ(sent, queued + 1);
        EXPECT_EQ(proc_recv_u32(&server), queued + 1);  /* every one, in order */
        proc_wait_exit(&caller, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

/* --- a stream of Scalars ------------------------------------------------------------ */

/*
 * Under a stream of Scalars the gateways hold them back a little to send
 * more in one NATS message (xnsgw/cluster.c). Nothing of that shows: each
 * BlockingScalar finds every Scalar sent before it delivered, in order, and
 * the stream's tail arrives with nothing sent behind it.
 */
#define STREAM_ROUNDS 20
#define STREAM_ROUND 1000
#define STREAM_TAIL 5000

static void stream_server(void *p) {
        struct echo_arg *a = p;
        uint32_t last = 0;
        xous_sid_t sid;

        on_host(a->host);
        EXPECT_OK(xous_register_name(a->name, 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;
                const uint32_t *arg;

                EXPECT_OK(xous_receive_message(sid, &env));
                arg = xous_envelope_args(env);
                switch (xous_envelope_id(env)) {
                case OP_SCALAR:
                        EXPECT_MSG(arg[0] == last + 1, "Scalar %u after %u", arg[0], last);
                        last = arg[0];
                        if (arg[1])     /* the last of the stream */
                                parent_send_u32(last);
                        break;
                case OP_REPORT:
                        EXPECT_OK(xous_return_scalar(env, last));
                        break;
                case ECHO_QUIT:
                        EXPECT_OK(xous_return_scalar(env, 0));
                        xous_envelope_drop(env);
                        return;
                }
                xous_envelope_drop(env);
        }
}

static void stream_client(void *p) {
        const struct echo_arg *a = p;
        xous_scalar_reply_t reply;
        uint32_t seq = 0;
        xous_cid_t cid;

        on_host(a->host);
        EXPECT_OK(xous_request_connection_blocking(a->name, &cid));
        for (unsigned round = 0; round < STREAM_ROUNDS; round++) {
                for (unsigned i = 0; i < STREAM_ROUND; i++)
                        EXPECT_OK(xous_send_scalar(cid, OP_SCALAR, ++seq, 0, 0, 0));
                EXPECT_OK(xous_blocking_scalar(cid, OP_REPORT, 0, 0, 0, 0, &reply));
                EXPECT_MSG(reply.v[0] == seq, "the server had %u of the %u Scalars sent before", reply.v[0], seq);
        }
        for (unsigned i = 1; i <= STREAM_TAIL; i++) {
                seq++;
                EXPECT_OK(xous_send_scalar(cid, OP_SCALAR, seq, i == STREAM_TAIL, 0, 0));
        }
        parent_send_u32(seq);
        parent_recv_u32();      /* the server has them all */
        EXPECT_OK(xous_blocking_scalar(cid, ECHO_QUIT, 0, 0, 0, 0, &reply));
}

START_TEST(scalar_stream_keeps_order) {
        struct echo_arg sa = { .host = 0, .name = "svc.stream" }, ca = { .host = 1, .name = "svc.stream" };
        struct proc server, client;
        uint32_t sent;

        proc_start(&server, "stream", stream_server, &sa);
        proc_recv_sid(&server);
        proc_start(&client, "client", stream_client, &ca);
        sent = proc_recv_u32(&client);
        EXPECT_EQ(sent, STREAM_ROUNDS * STREAM_ROUND + STREAM_TAIL);
        EXPECT_EQ(proc_recv_u32(&server), sent);        /* the tail, with nothing behind it */
        proc_send_u32(&client, 1);
        proc_wait_exit(&client, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

/* --- faults: a caller blocked on a host that fails wakes within WAKE_MS ------- */

/* Starts a server on host 0 that never answers and a caller on host 1
 * blocked in a BlockingScalar to it. */
static void blocked_across(struct proc *server, struct proc *caller, const char *name) {
        static struct echo_arg sa;
        static struct call_arg ca;

        sa = (struct echo_arg){ .host = 0, .name = name };
        ca = (struct call_arg){ .host = 1, .name = name };
        proc_start(server, "silent", silent_server, &sa);
        proc_recv_sid(server);
        proc_start(caller, "caller", blocked_caller, &ca);
        proc_recv_u32(caller);
        proc_send_u32(caller, 1);
        EXPECT_EQ(proc_recv_u32(server), 1);    /* the call reached the server */
}

static void expect_woken(struct proc *caller, uint64_t since) {
        uint32_t out[2];

        proc_recv(caller, out, sizeof(out));
        EXPECT_ERR(out[0], XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_MSG(now_ms() - since <= WAKE_MS, "woken %llu ms after the fault",
                   (unsigned long long)(now_ms() - since));
        fprintf(stderr, "woken after %llu ms\n", (unsigned long long)(now_ms() - since));
        proc_wait_exit(caller, 0);
}

START_TEST(remote_server_death_wakes_caller) {
        struct proc server, caller;

        blocked_across(&server, &caller, "svc.dies");
        proc_kill(&server);
        expect_woken(&caller, now_ms());
}
END_TEST

START_TEST(remote_gateway_kill_wakes_caller) {
        struct proc server, caller;
        uint64_t t0;

        blocked_across(&server, &caller, "svc.gwdies");
        t0 = now_ms();
        kill(hosts[0].gw_pid, SIGKILL);
        expect_woken(&caller, t0);
        proc_kill(&server);
}
END_TEST

START_TEST(remote_gateway_freeze_wakes_caller) {
        struct proc server, caller;
        uint64_t t0;

        blocked_across(&server, &caller, "svc.frozen");
        t0 = now_ms();
        kill(hosts[0].gw_pid, SIGSTOP);
        expect_woken(&caller, t0);
        kill(hosts[0].gw_pid, SIGCONT);
        proc_kill(&server);
}
END_TEST

START_TEST(remote_xnsd_kill_wakes_caller) {
        struct proc server, caller;
        uint64_t t0;

        blocked_across(&server, &caller, "svc.xnsddies");
        t0 = now_ms();
        kill(hosts[0].xnsd.pid, SIGKILL);
        expect_woken(&caller, t0);
        proc_kill(&server);
}
END_TEST

/* --- forward over three hosts ------------------------------------------------ */

#define FWD_BS 0x100
#define FWD_MUT 0x101
#define FWD_BORROW 0x102
#define FWD_QUIT 0x103

/* On host b: passes every message on to svc.fwd.c (the kinds server on
 * host c) under the kinds server's opcode. */
static void forwarding_server(void *p) {
        xous_cid_t cid;
        xous_sid_t sid;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_request_connection_blocking("svc.fwd.c", &cid));
        EXPECT_OK(xous_register_name("svc.fwd.b", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;
                uint32_t id;

                EXPECT_OK(xous_receive_message(sid, &env));
                id = xous_envelope_id(env);
                switch (id) {
                case FWD_BS:
                        EXPECT_OK(xous_forward(env, cid, OP_BS1));
                        break;
                case FWD_MUT:
                        EXPECT_OK(xous_forward(env, cid, OP_MUT));
                        break;
                case FWD_BORROW:
                        EXPECT_OK(xous_forward(env, cid, OP_BORROW));
                        break;
                case FWD_QUIT:
                        EXPECT_OK(xous_forward(env, cid, ECHO_QUIT));
                        break;
                }
                xous_envelope_drop(env);
                if (id == FWD_QUIT)
                        return;
        }
}

static void forward_caller(void *p) {
        xous_scalar_reply_t reply;
        xous_cid_t cid;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_request_connection_blocking("svc.fwd.b", &cid));
        for (uint32_t i = 0; i < 20; i++) {
                EXPECT_OK(xous_blocking_scalar(cid, FWD_BS, i, 2, 3, 4, &reply));
                EXPECT_EQ(reply.count, 1);
                EXPECT_EQ(reply.v[0], i + 9);
        }
        lend_both(cid, FWD_BORROW, FWD_MUT, 2, 5);      /* c's change reaches a's buffer */
        /* the quit goes on to c; c's answer comes back here */
        reply.v[0] = 77;
        EXPECT_OK(xous_blocking_scalar(cid, FWD_QUIT, 0, 0, 0, 0, &reply));
        EXPECT_EQ(reply.v[0], 0);
}

START_TEST(forward_over_three_hosts) {
        struct echo_arg ca = { .host = 2, .name = "svc.fwd.c" };
        struct proc c, b, a;
        unsigned hb = 1, ha = 0;

        proc_start(&c, "kinds-c", kinds_server, &ca);
        proc_recv_sid(&c);
        proc_start(&b, "forwarder-b", forwarding_server, &hb);
        proc_recv_sid(&b);
        proc_start(&a, "caller-a", forward_caller, &ha);
        proc_wait_exit(&a, 0);
        proc_wait_exit(&b, 0);
        proc_wait_exit(&c, 0);
}
END_TEST

/* --- deferred responses across hosts ------------------------------------------- */

#define DEFER_KEEP 0x200        /* kept; answered a1 + 100 when DEFER_RELEASE comes */
#define DEFER_RELEASE 0x201

/* On host b: keeps the first DEFER_KEEP, says so to the parent, answers
 * every other BlockingScalar with a1 + 1 meanwhile, and the kept one on
 * DEFER_RELEASE; quits on ECHO_QUIT. */
static void deferring_server(void *p) {
        xous_envelope_t *kept = NULL;
        xous_sid_t sid;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_register_name("svc.defer", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;
                const uint32_t *arg;
                uint32_t id;

                EXPECT_OK(xous_receive_message(sid, &env));
                id = xous_envelope_id(env);
                arg = xous_envelope_args(env);
                if (id == DEFER_KEEP) {
                        EXPECT(!kept);
                        kept = env;
                        parent_send_u32(xous_envelope_sender_pid(env));
                        continue;
                }
                if (id == DEFER_RELEASE) {
                        EXPECT(kept);
                        EXPECT_OK(xous_return_scalar(kept, xous_envelope_args(kept)[0] + 100));
                        xous_envelope_drop(kept);
                        kept = NULL;
                }
                EXPECT_OK(xous_return_scalar(env, id == ECHO_QUIT ? 0 : arg[0] + 1));
                xous_envelope_drop(env);
                if (id == ECHO_QUIT)
                        return;
        }
}

/* Connects to svc.defer, says so, waits for the word, makes one call (id,
 * a1 from the parent) and reports its error and value. */
static void one_call_caller(void *p) {
        xous_scalar_reply_t reply = { 0 };
        uint32_t in[2], out[2];
        xous_cid_t cid;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_request_connection_blocking("svc.defer", &cid));
        parent_send_u32(cid);
        parent_recv(in, sizeof(in));
        out[0] = xous_blocking_scalar(cid, in[0], in[1], 0, 0, 0, &reply);
        out[1] = reply.v[0];
        parent_send(out, sizeof(out));
}

/* On host c: calls svc.defer n times (each answered at once), then
 * releases the kept call and quits the server. */
static void busy_caller(void *p) {
        xous_scalar_reply_t reply;
        xous_cid_t cid;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_request_connection_blocking("svc.defer", &cid));
        for (uint32_t i = 0; i < 50; i++) {
                EXPECT_OK(xous_blocking_scalar(cid, 1, i, 0, 0, 0, &reply));
                EXPECT_EQ(reply.v[0], i + 1);
        }
        parent_send_u32(1);
        parent_recv_u32();
        EXPECT_OK(xous_blocking_scalar(cid, DEFER_RELEASE, 7, 0, 0, 0, &reply));
        EXPECT_EQ(reply.v[0], 8);
        EXPECT_OK(xous_blocking_scalar(cid, ECHO_QUIT, 0, 0, 0, 0, &reply));
}

START_TEST(deferred_response_across_hosts) {
        struct proc server, kept, busy;
        unsigned hs = 1, hk = 0, hb = 2;
        uint32_t out[2], call[2] = { DEFER_KEEP, 5 };

        proc_start(&server, "deferring-b", deferring_server, &hs);
        proc_recv_sid(&server);
        proc_start(&kept, "kept-a", one_call_caller, &hk);
        proc_recv_u32(&kept);
        proc_send(&kept, call, sizeof(call));
        EXPECT_EQ(proc_recv_u32(&server), kept.pid);    /* kept, with its caller's pid */
        proc_start(&busy, "busy-c", busy_caller, &hb);
        EXPECT_EQ(proc_recv_u32(&busy), 1);             /* served while the call is kept */
        EXPECT_MSG(proc_recv_timeout(&kept, out, sizeof(out), 0) == 0, "the kept call was answered early");
        proc_send_u32(&busy, 1);
        proc_recv(&kept, out, sizeof(out));
        EXPECT_ERR(out[0], XOUS_OK);
        EXPECT_EQ(out[1], 105);
        proc_wait_exit(&kept, 0);
        proc_wait_exit(&busy, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

/* On host a: the reply_and_receive_next loop; BlockingScalar a1 + 1, a
 * MutableBorrow's bytes +1 (pattern seed = offset); ends on ECHO_QUIT
 * after quits, one per caller. */
static void rarn_server(void *p) {
        xous_envelope_t *env = NULL;
        unsigned quits = 0;
        xous_sid_t sid;

        on_host(0);
        EXPECT_OK(xous_register_name("svc.rarn", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                EXPECT_OK(xous_reply_and_receive_next(sid, &env));
                if (xous_envelope_kind(env) == XOUS_MSG_MUTABLE_BORROW) {
                        EXPECT(check_pattern(xous_envelope_buf(env), xous_envelope_buf_len(env),
                                             xous_envelope_offset(env)));
                        fill_pattern(xous_envelope_buf(env), xous_envelope_buf_len(env),
                                     xous_envelope_offset(env) + 1);
                        continue;
                }
                EXPECT_OK(xous_return_scalar(env, xous_envelope_args(env)[0] + 1));
                if (xous_envelope_id(env) == ECHO_QUIT && ++quits == *(unsigned *)p)
                        break;
        }
        xous_envelope_drop(env);
}

static void rarn_caller(void *p) {
        xous_scalar_reply_t reply;
        xous_buf_t *buf = xous_buf_new(PAGE);
        uint32_t offset, valid = 0;
        xous_cid_t cid;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_request_connection_blocking("svc.rarn", &cid));
        for (uint32_t i = 0; i < 100; i++) {
                EXPECT_OK(xous_blocking_scalar(cid, 1, i * 3 + getpid(), 0, 0, 0, &reply));
                EXPECT_EQ(reply.v[0], i * 3 + getpid() + 1);
                if (i % 10)
                        continue;
                fill_pattern(xous_buf_data(buf), PAGE, i + getpid());
                offset = i + getpid();
                EXPECT_OK(xous_lend_mut(cid, 2, buf, &offset, &valid));
                EXPECT(check_pattern(xous_buf_data(buf), PAGE, i + getpid() + 1));
        }
        xous_buf_free(buf);
        EXPECT_OK(xous_blocking_scalar(cid, ECHO_QUIT, 0, 0, 0, 0, &reply));
}

START_TEST(reply_and_receive_next_across_hosts) {
        struct proc server, b, c;
        unsigned callers = 2, hb = 1, hc = 2;

        proc_start(&server, "rarn-a", rarn_server, &callers);
        proc_recv_sid(&server);
        proc_start(&b, "caller-b", rarn_caller, &hb);
        proc_start(&c, "caller-c", rarn_caller, &hc);
        proc_wait_exit(&b, 0);
        proc_wait_exit(&c, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

/* A thread pool on host b: POOL_THREADS threads receive on one SID. Each
 * caller thread (two per process, one process on host a and one on c)
 * numbers its calls: a1 = its key, a2 = the call's number; the pool checks
 * that each key's numbers come in order and answers key ^ number. */
#define POOL_THREADS 4
#define POOL_CALLS 200
#define POOL_KEYS 16

struct pool {
        xous_sid_t sid;
        pthread_mutex_t lock;
        uint32_t key[POOL_KEYS], next[POOL_KEYS];
        unsigned keys, quits, served[POOL_THREADS];
        bool out_of_order;
};

struct pool_thread {
        struct pool *pool;
        unsigned index;
};

static bool pool_check(struct pool *pl, uint32_t key, uint32_t n) {
        unsigned k;

        for (k = 0; k < pl->keys && pl->key[k] != key; k++)
                ;
        if (k == pl->keys) {
                if (k == POOL_KEYS)
                        return false;
                pl->key[pl->keys++] = key;
                pl->next[k] = 0;
        }
        if (pl->next[k] != n)
                return false;
        pl->next[k]++;
        return true;
}

static void *pool_worker(void *p) {
        struct pool_thread *t = p;
        struct pool *pl = t->pool;

        for (;;) {
                xous_envelope_t *env = NULL;
                const uint32_t *arg;
                bool quit;

                EXPECT_OK(xous_receive_message(pl->sid, &env));
                arg = xous_envelope_args(env);
                pthread_mutex_lock(&pl->lock);
                quit = xous_envelope_id(env) == ECHO_QUIT;
                if (quit)
                        pl->quits++;
                else if (!pool_check(pl, arg[0], arg[1]))
                        pl->out_of_order = true;
                pl->served[t->index]++;
                pthread_mutex_unlock(&pl->lock);
                EXPECT_OK(xous_return_scalar(env, quit ? 0 : arg[0] ^ arg[1]));
                xous_envelope_drop(env);
                if (quit)
                        return NULL;
        }
}

static void pool_server(void *p) {
        struct pool pl = { .lock = PTHREAD_MUTEX_INITIALIZER };
        struct pool_thread th[POOL_THREADS];
        pthread_t t[POOL_THREADS];

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_register_name("svc.pool", 0, &pl.sid));
        for (unsigned i = 0; i < POOL_THREADS; i++) {
                th[i] = (struct pool_thread){ .pool = &pl, .index = i };
                thread_start(&t[i], pool_worker, &th[i]);
        }
        parent_send_sid(pl.sid);
        for (unsigned i = 0; i < POOL_THREADS; i++)
                thread_join(t[i], 60000);
        EXPECT_MSG(!pl.out_of_order, "a caller thread's calls came out of order");
        EXPECT_EQ(pl.keys, 4);
        for (unsigned i = 0; i < POOL_THREADS; i++)
                fprintf(stderr, "pool thread %u served %u\n", i, pl.served[i]);
}

static void *pool_call_thread(void *p) {
        xous_cid_t cid = *(xous_cid_t *)p;
        uint32_t key = (uint32_t)syscall(SYS_gettid);
        xous_scalar_reply_t reply;

        for (uint32_t n = 0; n < POOL_CALLS; n++) {
                EXPECT_OK(xous_blocking_scalar(cid, 1, key, n, 0, 0, &reply));
                EXPECT_EQ(reply.v[0], key ^ n);
        }
        return NULL;
}

static void pool_caller(void *p) {
        xous_scalar_reply_t reply;
        xous_cid_t cid;
        pthread_t t[2];

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_request_connection_blocking("svc.pool", &cid));
        parent_send_u32(1);
        parent_recv_u32();
        for (unsigned i = 0; i < 2; i++)
                thread_start(&t[i], pool_call_thread, &cid);
        for (unsigned i = 0; i < 2; i++)
                thread_join(t[i], 60000);
        /* one quit per server thread, two from each caller process */
        for (unsigned i = 0; i < POOL_THREADS / 2; i++)
                EXPECT_OK(xous_blocking_scalar(cid, ECHO_QUIT, 0, 0, 0, 0, &reply));
}

START_TEST(thread_pool_serves_two_hosts) {
        struct proc server, a, c;
        unsigned hs = 1, ha = 0, hc = 2;

        proc_start(&server, "pool-b", pool_server, &hs);
        proc_recv_sid(&server);
        proc_start(&a, "caller-a", pool_caller, &ha);
        proc_start(&c, "caller-c", pool_caller, &hc);
        proc_recv_u32(&a);
        proc_recv_u32(&c);
        proc_send_u32(&a, 1);
        proc_send_u32(&c, 1);
        proc_wait_exit(&a, 0);
        proc_wait_exit(&c, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

/* The harness's echo server, on a host. */
static void echo_on_host(void *p) {
        struct echo_arg *a = p;

        on_host(a->host);
        echo_server((void *)a->name);
}

/* --- connection limits count every host's grants --------------------------------- */

/* Registers svc.limited with max_conns 2 on host a and serves it. */
static void limited_server(void *p) {
        xous_sid_t sid;
        bool done;

        on_host(0);
        EXPECT_OK(xous_trusted_init_done(&done));
        EXPECT_MSG(done, "no limited name yet, but trusted init is not done");
        EXPECT_OK(xous_register_name("svc.limited", 2, &sid));
        EXPECT_OK(xous_trusted_init_done(&done));
        EXPECT_MSG(!done, "svc.limited has no connection yet, but trusted init is done");
        parent_send_sid(sid);
        echo_serve(sid);
}

struct conn_arg {
        unsigned host;
        const char *name;
        bool blocking;
};

/* Asks for a connection, reports the result, and with one makes a call;
 * then xous_trusted_init_done() of its host, which must answer. */
static void connector(void *p) {
        struct conn_arg *a = p;
        xous_scalar_reply_t reply;
        xous_cid_t cid;
        xous_error_t e;
        bool done;

        on_host(a->host);
        e = a->blocking ? xous_request_connection_blocking(a->name, &cid) : xous_request_connection(a->name, &cid);
        parent_send_u32(e);
        if (e == XOUS_OK) {
                EXPECT_OK(xous_blocking_scalar(cid, 1, 41, 0, 0, 0, &reply));
                EXPECT_EQ(reply.v[0], 42);
        }
        EXPECT_OK(xous_trusted_init_done(&done));
        parent_send_u32(done);
        parent_recv_u32();
}

static xous_error_t connect_from(struct proc *p, unsigned host, const char *name, bool blocking, bool *done) {
        static struct conn_arg args[8];
        static unsigned n;
        struct conn_arg *a = &args[n++ % 8];
        xous_error_t e;

        *a = (struct conn_arg){ .host = host, .name = name, .blocking = blocking };
        proc_start(p, "connector", connector, a);
        e = proc_recv_u32(p);
        *done = proc_recv_u32(p);
        return e;
}

START_TEST(max_conns_counts_every_host_once) {
        struct proc server, b, c, a2, b2, b3;
        bool done;

        proc_start(&server, "limited-a", limited_server, NULL);
        proc_recv_sid(&server);
        EXPECT_ERR(connect_from(&b, 1, "svc.limited", true, &done), XOUS_OK);
        EXPECT_ERR(connect_from(&c, 2, "svc.limited", false, &done), XOUS_OK);
        /* full: a third grant, from any host, is refused */
        EXPECT_ERR(connect_from(&a2, 0, "svc.limited", false, &done), XOUS_ERR_ACCESS_DENIED);
        EXPECT_MSG(done, "svc.limited is full, but host a's trusted init is not done");
        EXPECT_ERR(connect_from(&b2, 1, "svc.limited", false, &done), XOUS_ERR_ACCESS_DENIED);
        EXPECT_ERR(connect_from(&b3, 1, "svc.limited", true, &done), XOUS_ERR_ACCESS_DENIED);
        release(&b);
        release(&c);
        release(&a2);
        release(&b2);
        release(&b3);
        proc_kill(&server);
}
END_TEST

/* --- the policy file names hosts ---------------------------------------------------- */

START_TEST(policy_names_a_host) {
        struct echo_arg sa = { .host = 0, .name = "svc.pol" };
        struct proc server, b, b2, c, a;
        bool done;

        proc_start(&server, "echo-a", echo_on_host, &sa);
        proc_recv_sid(&server);
        EXPECT_ERR(connect_from(&b, 1, "svc.pol", false, &done), XOUS_ERR_ACCESS_DENIED);
        EXPECT_ERR(connect_from(&b2, 1, "svc.pol", true, &done), XOUS_ERR_ACCESS_DENIED);
        /* host a's own processes are not host c's */
        EXPECT_ERR(connect_from(&a, 0, "svc.pol", false, &done), XOUS_ERR_ACCESS_DENIED);
        EXPECT_ERR(connect_from(&c, 2, "svc.pol", true, &done), XOUS_OK);
        release(&b);
        release(&b2);
        release(&a);
        release(&c);
        proc_kill(&server);
}
END_TEST

/* --- xnsctl across hosts ---------------------------------------------------------- */

/* Runs `xnsctl -s SOCK --json what` against host i's xnsd; its output, parsed
 * (NULL when it failed or printed no JSON). */
static json_t *xnsctl_json(unsigned host, const char *what) {
        const char *exe = getenv("XNSCTL");
        char out[65536];
        size_t len = 0;
        int fd[2], status;
        pid_t pid;

        EXPECT_MSG(exe && *exe, "XNSCTL is not set");
        EXPECT(pipe2(fd, O_CLOEXEC) == 0);
        pid = fork();
        EXPECT(pid >= 0);
        if (pid == 0) {
                dup2(fd[1], STDOUT_FILENO);
                execl(exe, "xnsctl", "-s", hosts[host].xnsd.sock, "--json", what, (char *)NULL);
                _exit(127);
        }
        close(fd[1]);
        for (uint64_t deadline = now_ms() + 5000; len < sizeof(out) - 1;) {
                struct pollfd pfd = { .fd = fd[0], .events = POLLIN };
                ssize_t n;

                if (poll(&pfd, 1, 100) == 0) {
                        EXPECT_MSG(now_ms() < deadline, "xnsctl %s did not finish within 5 s", what);
                        continue;
                }
                n = read(fd[0], out + len, sizeof(out) - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        out[len] = '\0';
        close(fd[0]);
        if (wait_child(pid, &status, 5000) <= 0) {
                kill(pid, SIGKILL);
                wait_child(pid, &status, 5000);
                return NULL;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return NULL;
        return json_loads(out, 0, NULL);
}

/* The object of array arr whose key is value, or NULL. */
static json_t *json_find(json_t *arr, const char *key, const char *value) {
        size_t i;
        json_t *v;

        json_array_foreach(arr, i, v) {
                const char *s = json_string_value(json_object_get(v, key));

                if (s && strcmp(s, value) == 0)
                        return v;
        }
        return NULL;
}

/* Whether host i's `xnsctl list` shows name as host owner's. */
static bool list_shows(unsigned host, const char *name, const char *owner) {
        json_t *j = xnsctl_json(host, "list"), *n;
        const char *h;
        bool yes;

        n = j ? json_find(json_object_get(j, "names"), "name", name) : NULL;
        h = n ? json_string_value(json_object_get(n, "host")) : NULL;
        yes = h && strcmp(h, owner) == 0;
        json_decref(j);
        return yes;
}

/* The NATS server host i's gateway is connected to, as xnsctl status shows
 * it ("" when none), in url; whether the gateway's view lists every host
 * of want (NULL-terminated). */
static bool status_gateway(unsigned host, const char *const *want, char *url, size_t size) {
        json_t *j = xnsctl_json(host, "status"), *gw, *hs;
        const char *h, *u;
        bool all = true;

        gw = j ? json_object_get(j, "gateway") : NULL;
        h = gw ? json_string_value(json_object_get(gw, "host")) : NULL;
        u = gw ? json_string_value(json_object_get(gw, "nats")) : NULL;
        hs = gw ? json_object_get(gw, "hosts") : NULL;
        if (url)
                snprintf(url, size, "%s", u ? u : "");
        if (!h || strcmp(h, host_names[host]) != 0 || !json_is_array(hs))
                all = false;
        for (size_t i = 0; all && want && want[i]; i++)
                if (!json_find(hs, "name", want[i]))
                        all = false;
        json_decref(j);
        return all;
}

/* On host b: a connection to svc.ctl (host a's), then waits for the parent. */
static void ctl_client(void *p) {
        xous_cid_t cid;

        on_host(1);
        EXPECT_OK(xous_request_connection_blocking("svc.ctl", &cid));
        parent_send_u32(cid);
        parent_recv_u32();
}

/* Whether host i's `xnsctl peers` shows process pid of host owner. */
static bool peers_show(unsigned host, pid_t pid, const char *owner) {
        json_t *j = xnsctl_json(host, "peers"), *p;
        size_t i;
        bool yes = false;

        json_array_foreach(j ? json_object_get(j, "peers") : NULL, i, p) {
                const char *h = json_string_value(json_object_get(p, "host"));

                if (json_integer_value(json_object_get(p, "pid")) == pid && h && strcmp(h, owner) == 0)
                        yes = true;
        }
        json_decref(j);
        return yes;
}

START_TEST(xnsctl_shows_the_cluster) {
        static const char *const others[] = { "a", "c", NULL };
        struct proc server, client;
        char url[128];
        bool ok = false;

        EXPECT_ERR(register_on(&server, 0, "svc.ctl"), XOUS_OK);
        /* the gateway pushes its view to xnsd when it changes: retry, bounded */
        for (uint64_t deadline = now_ms() + 5000; !(ok = list_shows(1, "svc.ctl", "a"));) {
                EXPECT_MSG(now_ms() < deadline, "xnsctl list on host b never showed svc.ctl of host a");
                sleep_ms(50);
        }
        for (uint64_t deadline = now_ms() + 5000; !status_gateway(1, others, url, sizeof(url));) {
                EXPECT_MSG(now_ms() < deadline, "xnsctl status on host b never showed hosts a and c");
                sleep_ms(50);
        }
        EXPECT_MSG(strncmp(url, "nats://", 7) == 0, "gateway's NATS server: '%s'", url);
        /* a local name shows as the host's own, with a pid */
        EXPECT(list_shows(0, "svc.ctl", "a") || list_shows(0, "svc.ctl", ""));
        /* a process of b connected to it: host a's peers show it, as b's */
        proc_start(&client, "ctl-client", ctl_client, NULL);
        proc_recv_u32(&client);
        EXPECT_MSG(peers_show(0, client.pid, "b"), "xnsctl peers on host a does not show pid %d of host b",
                   (int)client.pid);
        proc_send_u32(&client, 1);
        proc_wait_exit(&client, 0);
        release(&server);
}
END_TEST

/* --- a gateway started again exports its host's names again ------------------------- */

/* From a test: until process pid (the runner's child or ours) is dead. */
static void wait_dead_pid(pid_t pid) {
        EXPECT_MSG(test_host_wait_dead(pid, HARNESS_WAIT_MS) == 0, "process %d still alive", (int)pid);
}

/* From a test: SIGKILLs host i's gateway, waits until its xnsd let it go
 * and starts a new one. The new one is the test's child: it dies with the
 * test at the latest; gateway_stop() stops it before. */
static void gateway_restart(unsigned i) {
        char why[1024];

        EXPECT_MSG(test_host_gateway_restart(&hosts[i], START_MS, why, sizeof(why)) == 0, "%s", why);
}

/* From a test: starts host i's gateway again after it was killed. */
static void gateway_start(unsigned i) {
        char why[1024];

        EXPECT_MSG(test_host_gateway_start(&hosts[i], START_MS, why, sizeof(why)) == 0, "%s", why);
}

/* From a test: stops what it started itself on host i. */
static void gateway_stop(unsigned i) {
        test_host_gateway_stop(&hosts[i]);
}

/* Connects to a name (waiting for it), says so, calls it and says how
 * that went. */
static void echo_caller(void *p) {
        struct call_arg *a = p;
        xous_scalar_reply_t reply = { 0 };
        xous_cid_t cid;
        uint32_t out[2];

        on_host(a->host);
        EXPECT_OK(xous_request_connection_blocking(a->name, &cid));
        parent_send_u32(1);
        out[0] = xous_blocking_scalar(cid, 1, 41, 0, 0, 0, &reply);
        out[1] = reply.v[0];
        parent_send(out, sizeof(out));
}

/* Fails the test with what the gateways of hosts a and b logged last. */
static _Noreturn void fail_with_logs(const char *what) {
        char log_a[2048], log_b[2048];

        test_host_gateway_log(&hosts[0], log_a, sizeof(log_a));
        test_host_gateway_log(&hosts[1], log_b, sizeof(log_b));
        harness_fail_at(__FILE__, __LINE__, "%s\nxnsgw a:\n%s\nxnsgw b:\n%s", what, log_a, log_b);
}

/* Runs echo_caller on a host and expects its call answered. */
static void echo_call_from(unsigned host, const char *name) {
        struct call_arg ca = { .host = host, .name = name };
        struct proc caller;
        uint32_t out[2], one;

        proc_start(&caller, "caller", echo_caller, &ca);
        if (!proc_recv_timeout(&caller, &one, sizeof(one), HARNESS_WAIT_MS))
                fail_with_logs("no connection to the name");
        if (!proc_recv_timeout(&caller, out, sizeof(out), HARNESS_WAIT_MS))
                fail_with_logs("the call was not answered");
        EXPECT_ERR(out[0], XOUS_OK);
        EXPECT_EQ(out[1], 42);
        proc_wait_exit(&caller, 0);
}

/* A blocking lookup and the registration it waits for, started together,
 * round after round: the registration often shows while the lookup is on
 * its way to the registry (a gateway once took such a lookup's ask twice
 * and used it after freeing it; ASan runs catch that). */
START_TEST(blocking_lookup_races_registration) {
        for (unsigned round = 0; round < RACE_ROUNDS; round++) {
                char name[32];
                struct echo_arg sa = { .host = 0, .name = name };
                struct call_arg ca = { .host = 1, .name = name };
                struct proc server, caller;
                uint32_t one, out[2];

                snprintf(name, sizeof(name), "svc.race.%u", round);
                proc_start(&caller, "caller", echo_caller, &ca);
                proc_start(&server, "echo-a", echo_on_host, &sa);
                proc_recv_sid(&server);
                if (!proc_recv_timeout(&caller, &one, sizeof(one), HARNESS_WAIT_MS))
                        fail_with_logs("no connection to the name");
                proc_recv(&caller, out, sizeof(out));
                EXPECT_ERR(out[0], XOUS_OK);
                EXPECT_EQ(out[1], 42);
                proc_wait_exit(&caller, 0);
                proc_kill(&server);
        }
}
END_TEST

START_TEST(restarted_gateway_exports_again) {
        struct echo_arg sa = { .host = 0, .name = "svc.again" };
        struct proc server;

        proc_start(&server, "echo-a", echo_on_host, &sa);
        proc_recv_sid(&server);
        echo_call_from(1, "svc.again");
        gateway_restart(0);
        echo_call_from(1, "svc.again");
        /* and again, with the name still held by host a */
        gateway_restart(0);
        echo_call_from(2, "svc.again");
        proc_kill(&server);
        gateway_stop(0);
}
END_TEST

/* A name whose server went while its host had no gateway (nobody told the
 * cluster): the gateway, back, releases it, so another host may take it;
 * a name still registered there stays the host's. Without the release the
 * name stays host a's for good (host a is alive again, so no other host
 * takes it over). */
START_TEST(restarted_gateway_drops_stale_names) {
        struct echo_arg ka = { .host = 0, .name = "svc.kept" };
        struct proc kept, gone, b;

        proc_start(&kept, "echo-a", echo_on_host, &ka);
        proc_recv_sid(&kept);
        EXPECT_ERR(register_on(&gone, 0, "svc.stale"), XOUS_OK);
        EXPECT_ERR(register_on(&b, 1, "svc.stale"), XOUS_ERR_SERVER_EXISTS);
        release(&b);
        test_host_gateway_signal(&hosts[0], SIGKILL);
        release(&gone);
        gateway_start(0);
        register_once_free(&b, 1, "svc.stale", 5000);
        release(&b);
        EXPECT_ERR(register_on(&b, 1, "svc.kept"), XOUS_ERR_SERVER_EXISTS);
        release(&b);
        echo_call_from(1, "svc.kept");
        proc_kill(&kept);
        gateway_stop(0);
}
END_TEST

/* A host whose gateway died holds its exported names no longer: once the
 * others count it dead, another host may take them; and its gateway, back,
 * exports them again once they are free. */
START_TEST(dead_host_names_may_be_taken) {
        struct echo_arg sa = { .host = 0, .name = "svc.orphan" };
        struct proc server, b, c;

        proc_start(&server, "echo-a", echo_on_host, &sa);
        proc_recv_sid(&server);
        EXPECT_ERR(register_on(&b, 1, "svc.orphan"), XOUS_ERR_SERVER_EXISTS);
        release(&b);
        test_host_gateway_signal(&hosts[0], SIGKILL);
        /* refused while host a may be alive yet, then taken (bounded) */
        register_once_free(&b, 1, "svc.orphan", 10000);
        EXPECT_ERR(register_on(&c, 2, "svc.orphan"), XOUS_ERR_SERVER_EXISTS);  /* host b's, alive */
        release(&c);
        release(&b);
        gateway_start(0);
        echo_call_from(2, "svc.orphan");                /* host a's again */
        proc_kill(&server);
        gateway_stop(0);
}
END_TEST

/* --- without NATS ---------------------------------------------------------------------- */

/* On host a: a local caller of a local name and of an exported name of
 * this host, then lookups of names no host has: not found, at once. */
static void no_nats_client(void *p) {
        xous_scalar_reply_t reply;
        xous_cid_t cid;
        uint64_t t0;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_request_connection_blocking("local.here", &cid));
        EXPECT_OK(xous_blocking_scalar(cid, 1, 41, 0, 0, 0, &reply));
        EXPECT_EQ(reply.v[0], 42);
        EXPECT_OK(xous_request_connection("svc.here", &cid));
        EXPECT_OK(xous_blocking_scalar(cid, 1, 1, 0, 0, 0, &reply));
        EXPECT_EQ(reply.v[0], 2);
        for (unsigned i = 0; i < 3; i++) {
                t0 = now_ms();
                EXPECT_ERR(xous_request_connection("svc.nowhere", &cid), XOUS_ERR_SERVER_NOT_FOUND);
                EXPECT_MSG(now_ms() - t0 < 200, "not found after %llu ms", (unsigned long long)(now_ms() - t0));
        }
        t0 = now_ms();
        EXPECT_ERR(xous_request_connection("local.nowhere", &cid), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_MSG(now_ms() - t0 < 200, "not found after %llu ms", (unsigned long long)(now_ms() - t0));
}

START_TEST(nats_unreachable_local_traffic_goes_on) {
        struct echo_arg sa = { .host = 0, .name = "svc.here" }, la = { .host = 0, .name = "local.here" };
        struct proc server, local, client;
        unsigned ha = 0, hb = 1;
        char url[128];

        proc_start(&server, "echo-a", echo_on_host, &sa);
        proc_recv_sid(&server);
        for (unsigned i = 0; i < own_nats.n; i++)
                EXPECT(test_nats_signal(&own_nats, i, SIGKILL) == 0);
        /* until both gateways say they are not connected (bounded) */
        for (unsigned h = 0; h < 2; h++)
                for (uint64_t deadline = now_ms() + HARNESS_WAIT_MS;;) {
                        status_gateway(h, NULL, url, sizeof(url));
                        if (!url[0])
                                break;
                        EXPECT_MSG(now_ms() < deadline, "host %s still shows NATS server %s", host_names[h], url);
                        sleep_ms(20);
                }
        /* a name registered now, not exported, serves as before */
        proc_start(&local, "local-a", echo_on_host, &la);
        proc_recv_sid(&local);
        proc_start(&client, "client-a", no_nats_client, &ha);
        proc_wait_exit(&client, 0);
        /* another host, which has neither name */
        proc_start(&client, "client-b", lookup_not_found, &hb);
        proc_wait_exit(&client, 0);
        proc_kill(&local);
        proc_kill(&server);
}
END_TEST

/* --- a NATS node dies while a deferred call is parked -------------------------------- */

#define PARK 0x300
#define PARK_COUNT 0x301

/* On host b: keeps the first PARK, says so, answers it with a1 + 1000 when
 * the parent says; answers PARK_COUNT with the number of PARKs received
 * and other BlockingScalars with a1 + 1. */
static void parking_server(void *p) {
        xous_envelope_t *kept = NULL;
        uint32_t parks = 0;
        xous_sid_t sid;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_register_name("svc.park", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;
                uint32_t id;

                EXPECT_OK(xous_receive_message(sid, &env));
                id = xous_envelope_id(env);
                if (id == PARK && !kept) {
                        parks++;
                        kept = env;
                        parent_send_u32(1);
                        parent_recv_u32();
                        EXPECT_OK(xous_return_scalar(kept, xous_envelope_args(kept)[0] + 1000));
                        xous_envelope_drop(kept);
                        continue;
                }
                if (id == PARK)
                        parks++;
                EXPECT_OK(xous_return_scalar(env, id == PARK_COUNT ? parks : xous_envelope_args(env)[0] + 1));
                xous_envelope_drop(env);
        }
}

/* On host a: one PARK call, its result to the parent; if it was answered,
 * a second call on the same connection must get its own answer (not a
 * second copy of the first). */
static void parked_caller(void *p) {
        xous_scalar_reply_t reply = { 0 };
        uint32_t out[3];
        xous_cid_t cid;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_request_connection_blocking("svc.park", &cid));
        parent_send_u32(cid);
        parent_recv_u32();
        out[0] = xous_blocking_scalar(cid, PARK, 7, 0, 0, 0, &reply);
        out[1] = reply.v[0];
        out[2] = 0;
        if (out[0] == XOUS_OK) {
                reply.v[0] = 0;
                out[2] = xous_blocking_scalar(cid, 1, 41, 0, 0, 0, &reply);
                if (out[2] == XOUS_OK && reply.v[0] != 42)
                        out[2] = 0xdead0000u | reply.v[0];
        }
        parent_send(out, sizeof(out));
}

/* On host a: connects to svc.park and asks for its PARK count, again and
 * again while the cluster settles (bounded by PARK_COUNT_MS: a lookup may
 * take the registry's 15 s while JetStream recovers from the node's
 * death); reports the count. */
#define PARK_COUNT_MS 20000

static void park_counter(void *p) {
        xous_scalar_reply_t reply;
        xous_error_t e = XOUS_ERR_SERVER_NOT_FOUND;
        uint64_t deadline = now_ms() + PARK_COUNT_MS;
        xous_cid_t cid;

        on_host(*(unsigned *)p);
        while (now_ms() < deadline) {
                e = xous_request_connection_blocking("svc.park", &cid);
                if (e == XOUS_OK)
                        e = xous_blocking_scalar(cid, PARK_COUNT, 0, 0, 0, 0, &reply);
                if (e == XOUS_OK)
                        break;
                sleep_ms(50);
        }
        EXPECT_OK(e);
        parent_send_u32(reply.v[0]);
}

/* The node host i's gateway is connected to, -1 for none of ours. */
static int gateway_node(unsigned host) {
        char url[128];

        status_gateway(host, NULL, url, sizeof(url));
        for (unsigned i = 0; i < own_nats.n; i++)
                if (strcmp(own_nats.node[i].url, url) == 0)
                        return (int)i;
        return -1;
}

/*
 * A call from host a to a server on host b is parked on b; the NATS node
 * of b's gateway (kill_callers_node false: a's gateway is on another one)
 * or of a's gateway (true) is killed, then the server answers. The caller
 * gets the answer once, or SERVER_NOT_FOUND; the survivors carry on.
 */
static void parked_call_through_node_death(bool kill_callers_node) {
        struct proc server, caller, counter;
        unsigned hs = 1, hc = 0;
        uint32_t out[3], count = 0;
        int node;

        /* libnats picks a node at random: with the caller's gateway on the
         * same node, both would lose it */
        for (unsigned tries = 0; gateway_node(0) == gateway_node(1); tries++) {
                EXPECT_MSG(tries < 20, "hosts a and b always share a NATS node");
                gateway_restart(0);
        }
        node = gateway_node(kill_callers_node ? 0 : 1);
        EXPECT_MSG(node >= 0, "host %s's gateway is on no node of ours", kill_callers_node ? "a" : "b");
        proc_start(&server, "parking-b", parking_server, &hs);
        proc_recv_sid(&server);
        proc_start(&caller, "caller-a", parked_caller, &hc);
        proc_recv_u32(&caller);
        proc_send_u32(&caller, 1);
        EXPECT_EQ(proc_recv_u32(&server), 1);           /* parked on b */
        EXPECT(test_nats_signal(&own_nats, (unsigned)node, SIGKILL) == 0);
        proc_send_u32(&server, 1);                      /* answer it now */
        if (proc_recv_timeout(&caller, out, sizeof(out), HARNESS_WAIT_MS) == 0)
                fail_with_logs("the parked call neither answered nor failed");
        fprintf(stderr, "parked call after the node's death: %s, %u; next call 0x%x\n", harness_errname(out[0]),
                out[1], out[2]);
        /* the parked call survives the node and is answered, once */
        EXPECT_ERR(out[0], XOUS_OK);
        EXPECT_EQ(out[1], 1007);
        EXPECT_MSG(out[2] == XOUS_OK || out[2] == XOUS_ERR_SERVER_NOT_FOUND, "the call after it: 0x%x", out[2]);
        proc_wait_exit(&caller, 0);
        /* the survivors carry on; the call came to the server once */
        proc_start(&counter, "counter-a", park_counter, &hc);
        /* the counter's own bound, and a second for its last lookup's answer */
        EXPECT_MSG(proc_recv_timeout(&counter, &count, sizeof(count), PARK_COUNT_MS + 1000) != 0,
                   "no count from counter-a within %d ms", PARK_COUNT_MS + 1000);
        EXPECT_EQ(count, 1);
        proc_wait_exit(&counter, 0);
        proc_kill(&server);
        gateway_stop(0);
}

/*
 * A frame (here the Answer) published in the window of a NATS reconnect
 * (written to the dying node's socket, or sent to the receiver before its
 * subscription is back) is lost, and the gateways reconnect within 100 ms,
 * so no host goes silent: after a reconnect each gateway probes the others
 * for the calls it waits on (bridge.c), and they send lost answers again.
 */
START_TEST(nats_node_death_with_a_parked_call) {
        parked_call_through_node_death(false);
}
END_TEST

START_TEST(nats_node_death_under_the_caller) {
        parked_call_through_node_death(true);
}
END_TEST

/* --- each fault, again and again ------------------------------------------------------ */

#define ROUNDS 3

START_TEST(remote_server_death_rounds) {
        for (unsigned round = 0; round < ROUNDS; round++) {
                struct proc server, caller;
                char name[32];

                snprintf(name, sizeof(name), "svc.dies.%u", round);
                blocked_across(&server, &caller, name);
                proc_kill(&server);
                expect_woken(&caller, now_ms());
        }
}
END_TEST

START_TEST(remote_gateway_kill_rounds) {
        for (unsigned round = 0; round < ROUNDS; round++) {
                struct proc server, caller;
                char name[32];
                uint64_t t0;

                snprintf(name, sizeof(name), "svc.gwdies.%u", round);
                blocked_across(&server, &caller, name);
                t0 = now_ms();
                kill(hosts[0].gw_pid, SIGKILL);
                expect_woken(&caller, t0);
                proc_kill(&server);
                gateway_restart(0);
        }
        gateway_stop(0);
}
END_TEST

START_TEST(remote_gateway_freeze_rounds) {
        for (unsigned round = 0; round < ROUNDS; round++) {
                struct proc server, caller;
                char name[32];
                uint64_t t0;

                snprintf(name, sizeof(name), "svc.frozen.%u", round);
                blocked_across(&server, &caller, name);
                t0 = now_ms();
                kill(hosts[0].gw_pid, SIGSTOP);
                expect_woken(&caller, t0);
                kill(hosts[0].gw_pid, SIGCONT);
                proc_kill(&server);
        }
}
END_TEST

/* From a test: after host i's xnsd was killed, its gateway exits; starts
 * both again (the test's children, stopped by host_stop_own()). */
static void host_restart(unsigned i) {
        char why[1024];

        wait_dead_pid(hosts[i].xnsd.pid);
        if (hosts[i].gw_pid > 0)
                wait_dead_pid(hosts[i].gw_pid);
        hosts[i].gw_pid = -1;
        EXPECT_MSG(test_daemon_spawn(&hosts[i].xnsd, getenv("XNSD"), NULL, NULL, START_MS, why, sizeof(why)) == 0,
                   "%s", why);
        EXPECT_MSG(test_host_gateway_start(&hosts[i], START_MS, why, sizeof(why)) == 0, "%s", why);
}

static void host_stop_own(unsigned i) {
        int status;

        gateway_stop(i);
        if (hosts[i].xnsd.pid > 0)
                test_daemon_stop(&hosts[i].xnsd, 5000, &status);
}

START_TEST(remote_xnsd_kill_rounds) {
        for (unsigned round = 0; round < ROUNDS; round++) {
                struct proc server, caller;
                char name[32];
                uint64_t t0;

                snprintf(name, sizeof(name), "svc.xnsddies.%u", round);
                blocked_across(&server, &caller, name);
                t0 = now_ms();
                kill(hosts[0].xnsd.pid, SIGKILL);
                expect_woken(&caller, t0);
                proc_kill(&server);
                host_restart(0);
        }
        host_stop_own(0);
}
END_TEST

/* --- the suite ------------------------------------------------------------------- */

static void add_with(Suite *s, const TTest *t, SFun setup, SFun teardown) {
        TCase *tc = tcase_create(t->name);

        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, t);
        suite_add_tcase(s, tc);
}

static void add(Suite *s, const TTest *t) {
        add_with(s, t, hosts_start, hosts_stop);
}

int main(void) {
        struct test_nats_config cfg = {
                .exe = getenv("NATS_SERVER"), .nodes = 3, .jetstream = true,
                .dir_template = "/tmp/xns-nats-XXXXXX", .timeout_ms = START_MS,
        };
        Suite *s = suite_create("cluster");
        char why[600];
        int r;

        if (!cfg.exe || !*cfg.exe || !getenv("XNSGW")) {
                fprintf(stderr, "no nats-server or xnsgw: skipped\n");
                return 77;
        }
        if (test_nats_start(&nats, &cfg, why, sizeof(why)) < 0) {
                fprintf(stderr, "NATS cluster: %s\n", why);
                return 1;
        }
        nats_cluster_urls(&nats, nats_urls, sizeof(nats_urls));
        add(s, exported_name_is_unique_across_hosts);
        add(s, concurrent_registrations_one_wins);
        add(s, released_name_may_move);
        add(s, every_kind_across_hosts);
        add(s, blocking_lookup_waits_for_another_host);
        add(s, not_found_at_once);
        add(s, sid_connects_from_another_host);
        add(s, full_remote_queue_pushes_back);
        add(s, scalar_stream_keeps_order);
        add(s, remote_server_death_wakes_caller);
        add(s, remote_gateway_kill_wakes_caller);
        add(s, remote_gateway_freeze_wakes_caller);
        add(s, remote_xnsd_kill_wakes_caller);
        add(s, forward_over_three_hosts);
        add(s, deferred_response_across_hosts);
        add(s, reply_and_receive_next_across_hosts);
        add(s, thread_pool_serves_two_hosts);
        add(s, max_conns_counts_every_host_once);
        add_with(s, policy_names_a_host, policy_hosts_start, policy_hosts_stop);
        add(s, xnsctl_shows_the_cluster);
        add(s, restarted_gateway_exports_again);
        add(s, restarted_gateway_drops_stale_names);
        add(s, dead_host_names_may_be_taken);
        add(s, blocking_lookup_races_registration);
        add(s, remote_server_death_rounds);
        add(s, remote_gateway_kill_rounds);
        add(s, remote_gateway_freeze_rounds);
        add(s, remote_xnsd_kill_rounds);
        /* these kill NATS nodes: a NATS cluster of their own each */
        add_with(s, nats_unreachable_local_traffic_goes_on, own_nats_hosts_start, own_nats_hosts_stop);
        add_with(s, nats_node_death_with_a_parked_call, own_nats_hosts_start, own_nats_hosts_stop);
        add_with(s, nats_node_death_under_the_caller, own_nats_hosts_start, own_nats_hosts_stop);
        r = harness_run(s);
        test_nats_stop(&nats, 5000);
        test_nats_remove_dir(&nats);
        return r;
}
