/* test-cluster.c: xns across hosts: three hosts on this machine (an xnsd and
 * an xnsgw each) joined by a real three-node NATS cluster with JetStream. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include "hosts.h"
#include "nats.h"

#define HOSTS 3
#define START_MS 20000
#define WAKE_MS 1000            /* a caller blocked on a host that fails hears so within this */

static struct test_nats nats = TEST_NATS_INIT;
static char nats_urls[256];
static struct test_host hosts[HOSTS] = { TEST_HOST_INIT, TEST_HOST_INIT, TEST_HOST_INIT };
static const char *const exports[] = { "svc*", NULL };
static const char *const host_names[HOSTS] = { "a", "b", "c" };

/* --- fixtures: the NATS cluster is the runner's for the whole suite; each
 * test case starts its hosts afresh (in the runner, which stops them even
 * when the test failed). ------------------------------------------------ */

static void hosts_start(void) {
        char why[1024];

        for (unsigned i = 0; i < HOSTS; i++)
                if (test_host_start(&hosts[i], host_names[i], nats_urls, exports, START_MS, why, sizeof(why)) < 0)
                        ck_abort_msg("host %s: %s", host_names[i], why);
}

static void hosts_stop(void) {
        for (unsigned i = 0; i < HOSTS; i++)
                test_host_stop(&hosts[i]);
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
        for (uint64_t deadline = now_ms() + 5000;;) {
                xous_error_t e = register_on(&b, 1, "svc.moving");

                if (e == XOUS_OK)
                        break;
                EXPECT_ERR(e, XOUS_ERR_SERVER_EXISTS);
                release(&b);
                EXPECT_MSG(now_ms() < deadline, "svc.moving still taken 5 s after its owner died");
                sleep_ms(20);
        }
        proc_start(&c, "lookup", lookup_not_found, &host);
        proc_wait_exit(&c, 0);
        release(&b);
}
END_TEST

/* --- every kind across hosts -------------------------------------------------- */

static void remote_kinds_client(void *p) {
        xous_scalar_reply_t reply;
        xous_buf_t *buf;
        uint32_t offset = 0, valid = 0;
        xous_cid_t cid;

        on_host(*(unsigned *)p);
        EXPECT_OK(xous_request_connection_blocking("svc.kinds", &cid));
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
        /* a Borrow comes back unchanged */
        buf = xous_buf_new(3 * PAGE);
        fill_pattern(xous_buf_data(buf), 3 * PAGE, 7);
        EXPECT_OK(xous_lend(cid, OP_BORROW, buf, 7, 3 * PAGE));
        EXPECT(check_pattern(xous_buf_data(buf), 3 * PAGE, 7));
        /* a MutableBorrow brings the server's changes and offset/valid */
        offset = 7;
        EXPECT_OK(xous_lend_mut(cid, OP_MUT, buf, &offset, &valid));
        EXPECT(check_pattern(xous_buf_data(buf), 3 * PAGE, 8));
        EXPECT_EQ(offset, 16);
        EXPECT_EQ(valid, 1000);
        xous_buf_free(buf);
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
        struct echo_arg sa = { .host = 0, .name = "svc.kinds" };
        struct proc server, client;
        unsigned host = 1;

        proc_start(&server, "kinds", kinds_server, &sa);
        proc_recv_sid(&server);
        proc_start(&client, "client", remote_kinds_client, &host);
        proc_wait_exit(&client, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

/* The blocking lookup waits for a registration on any host. */
START_TEST(blocking_lookup_waits_for_another_host) {
        struct echo_arg sa = { .host = 2, .name = "svc.kinds" };
        struct proc server, client;
        unsigned host = 0;

        proc_start(&client, "client", remote_kinds_client, &host);      /* waits for svc.kinds */
        for (uint64_t deadline = now_ms() + HARNESS_WAIT_MS; proc_syscall(client.pid) != SYS_recvmsg;) {
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

/* --- the suite ------------------------------------------------------------------- */

static void add(Suite *s, const TTest *t) {
        TCase *tc = tcase_create(t->name);

        tcase_add_unchecked_fixture(tc, hosts_start, hosts_stop);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, t);
        suite_add_tcase(s, tc);
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
        snprintf(nats_urls, sizeof(nats_urls), "%s,%s,%s", nats.node[0].url, nats.node[1].url, nats.node[2].url);
        add(s, exported_name_is_unique_across_hosts);
        add(s, concurrent_registrations_one_wins);
        add(s, released_name_may_move);
        add(s, every_kind_across_hosts);
        add(s, blocking_lookup_waits_for_another_host);
        add(s, not_found_at_once);
        add(s, sid_connects_from_another_host);
        add(s, full_remote_queue_pushes_back);
        add(s, remote_server_death_wakes_caller);
        add(s, remote_gateway_kill_wakes_caller);
        add(s, remote_gateway_freeze_wakes_caller);
        add(s, remote_xnsd_kill_wakes_caller);
        r = harness_run(s);
        test_nats_stop(&nats, 5000);
        test_nats_remove_dir(&nats);
        return r;
}
