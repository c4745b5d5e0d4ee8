/* test-nats.c: what the cross-host design takes from NATS, checked against a real 3-node cluster and libnats. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "nats.h"
#include "test-util.h"

#define TEST_TIMEOUT_S 60
#define START_MS 20000          /* a cluster to be ready */
#define STOP_MS 5000            /* a node to exit on SIGTERM */
#define REQUEST_MS 5000
#define FAILOVER_MS 20000       /* the survivors to elect new leaders and serve again */
#define BUCKET "xns-names"
#define BUCKET_STREAM "KV_" BUCKET
#define RACES 20

static struct test_nats cluster = TEST_NATS_INIT;

#define EXPECT_NATS(call)                                                               \
        do {                                                                            \
                natsStatus _s = (call);                                                 \
                ck_assert_msg(_s == NATS_OK, "%s: %s (%s)", #call, natsStatus_GetText(_s), \
                              nats_GetLastError(NULL));                                 \
        } while (0)

/* --- fixtures: the cluster belongs to the runner, which stops it even when
 * the test (a forked child) failed or was killed ------------------------- */

static void cluster_start_nodes(unsigned nodes) {
        struct test_nats_config cfg = {
                .exe = getenv("NATS_SERVER"),
                .nodes = nodes,
                .jetstream = true,
                .dir_template = "/tmp/xns-nats-XXXXXX",
                .timeout_ms = START_MS,
        };
        char why[600];

        if (test_nats_start(&cluster, &cfg, why, sizeof(why)) < 0)
                ck_abort_msg("%s", why);
}

static void cluster_start(void) {
        cluster_start_nodes(3);
}

static void cluster_start_one(void) {
        cluster_start_nodes(1);
}

static void cluster_start_two(void) {
        cluster_start_nodes(2);
}

static void cluster_stop(void) {
        if (test_nats_stop(&cluster, STOP_MS) == 0)
                fprintf(stderr, "test-nats: a nats-server ignored SIGTERM for %d ms, killed it\n", STOP_MS);
        test_nats_remove_dir(&cluster);
}

/* --- helpers -------------------------------------------------------------- */

static natsConnection *connect_node(unsigned i) {
        natsConnection *nc = NULL;

        EXPECT_NATS(test_nats_connect(&nc, &cluster, i, true));
        return nc;
}

/* Answers every message with its own data, from a library thread. */
static void on_echo(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        if (natsMsg_GetReply(msg))
                natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
        natsMsg_Destroy(msg);
}

static natsSubscription *echo_start(natsConnection *nc, const char *subject) {
        natsSubscription *sub = NULL;

        EXPECT_NATS(natsConnection_Subscribe(&sub, nc, subject, on_echo, NULL));
        EXPECT_NATS(natsConnection_Flush(nc));
        return sub;
}

/* n requests with distinct payloads, each answered with its own. */
static void expect_echoes(natsConnection *nc, const char *subject, unsigned n) {
        EXPECT_NATS(test_nats_await_responder(nc, subject, REQUEST_MS));
        for (unsigned k = 0; k < n; k++) {
                natsMsg *reply = NULL;
                char data[32];

                snprintf(data, sizeof(data), "request %u", k);
                EXPECT_NATS(natsConnection_RequestString(&reply, nc, subject, data, REQUEST_MS));
                ck_assert_int_eq(natsMsg_GetDataLength(reply), (int)strlen(data));
                ck_assert(!memcmp(natsMsg_GetData(reply), data, strlen(data)));
                natsMsg_Destroy(reply);
        }
}

static jsCtx *jetstream(natsConnection *nc) {
        jsOptions o;
        jsCtx *js = NULL;

        EXPECT_NATS(jsOptions_Init(&o));
        o.Wait = 2000;
        EXPECT_NATS(natsConnection_JetStream(&js, nc, &o));
        return js;
}

static kvStore *bucket_create(jsCtx *js, unsigned replicas) {
        kvStore *kv = NULL;
        kvConfig cfg;

        EXPECT_NATS(kvConfig_Init(&cfg));
        cfg.Bucket = BUCKET;
        cfg.Replicas = (int)replicas;
        EXPECT_NATS(js_CreateKeyValue(&kv, js, &cfg));
        return kv;
}

static kvStore *bucket_bind(jsCtx *js) {
        kvStore *kv = NULL;

        EXPECT_NATS(js_KeyValue(&kv, js, BUCKET));
        return kv;
}

/* Whether the stream's leader has key holding value. */
static bool leader_has(jsCtx *js, const char *key, const char *value) {
        char subject[128];
        natsMsg *msg = NULL;
        bool same;

        snprintf(subject, sizeof(subject), "$KV.%s.%s", BUCKET, key);
        if (js_GetLastMsg(&msg, js, BUCKET_STREAM, subject, NULL, NULL) != NATS_OK)
                return false;
        same = natsMsg_GetDataLength(msg) == (int)strlen(value) && !memcmp(natsMsg_GetData(msg), value, strlen(value));
        natsMsg_Destroy(msg);
        return same;
}

/* Creates key, trying again while the bucket has no leader; a try whose
 * answer was lost may have created it, which the leader then shows. The
 * status of the last try, and how long it all took in *ms. */
static natsStatus kv_create_within(jsCtx *js, kvStore *kv, const char *key, const char *value, int timeout_ms,
                                   uint64_t *ms) {
        uint64_t t0 = now_ms();
        natsStatus s;

        for (;;) {
                s = kvStore_CreateString(NULL, kv, key, value);
                if (s == NATS_ERR && leader_has(js, key, value))
                        s = NATS_OK;
                if (s == NATS_OK || now_ms() - t0 >= (uint64_t)timeout_ms)
                        break;
                sleep_ms(20);
        }
        *ms = now_ms() - t0;
        return s;
}

/* The value of key as the stream's leader has it (a KV get may be answered
 * by a lagging replica). */
static void expect_leader_value(jsCtx *js, const char *key, const char *want) {
        ck_assert_msg(leader_has(js, key, want), "%s does not hold '%s' at the leader", key, want);
}

static int stream_leader(jsCtx *js) {
        jsStreamInfo *si = NULL;
        int leader;

        EXPECT_NATS(js_GetStreamInfo(&si, js, BUCKET_STREAM, NULL, NULL));
        ck_assert(si->Cluster && si->Cluster->Leader);
        leader = test_nats_node_by_name(&cluster, si->Cluster->Leader);
        jsStreamInfo_Destroy(si);
        ck_assert_int_ge(leader, 0);
        return leader;
}

/* --- the cluster is up: three distinct servers, one subject space -------- */

START_TEST(test_cluster_up) {
        natsConnection *nc[3];
        natsSubscription *sub[3];
        char ids[3][64];

        for (unsigned i = 0; i < 3; i++) {
                nc[i] = connect_node(i);
                EXPECT_NATS(natsConnection_GetConnectedServerId(nc[i], ids[i], sizeof(ids[i])));
                for (unsigned j = 0; j < i; j++)
                        ck_assert_str_ne(ids[i], ids[j]);
                EXPECT_NATS(natsConnection_SubscribeSync(&sub[i], nc[i], "xns.up"));
                EXPECT_NATS(natsConnection_Flush(nc[i]));
        }
        /* A publish on node 0 reaches the subscribers of all three nodes,
         * once their interest has crossed the routes. */
        for (unsigned i = 0; i < 3; i++) {
                uint64_t deadline = now_ms() + REQUEST_MS;
                natsMsg *msg = NULL;
                natsStatus s;

                do {
                        EXPECT_NATS(natsConnection_PublishString(nc[0], "xns.up", "hello"));
                        s = natsSubscription_NextMsg(&msg, sub[i], 50);
                } while (s == NATS_TIMEOUT && now_ms() < deadline);
                EXPECT_NATS(s);
                ck_assert_str_eq(natsMsg_GetData(msg), "hello");
                natsMsg_Destroy(msg);
        }
        for (unsigned i = 0; i < 3; i++) {
                natsSubscription_Destroy(sub[i]);
                natsConnection_Destroy(nc[i]);
        }
}
END_TEST

/* --- request/reply between two nodes; no responders answered at once ----- */

START_TEST(test_request_reply_across_nodes) {
        natsConnection *requester = connect_node(0), *responder = connect_node(1);
        natsSubscription *echo = echo_start(responder, "xns.n1.echo");
        natsMsg *reply = NULL;
        uint64_t t0;
        natsStatus s;

        expect_echoes(requester, "xns.n1.echo", 200);
        /* Nobody listens: the requester learns it from the server, long
         * before its timeout. */
        t0 = now_ms();
        s = natsConnection_RequestString(&reply, requester, "xns.n2.nobody", "x", REQUEST_MS);
        ck_assert_msg(s == NATS_NO_RESPONDERS, "a request nobody listens to: %s", natsStatus_GetText(s));
        ck_assert_uint_lt(now_ms() - t0, REQUEST_MS / 2);
        natsSubscription_Destroy(echo);
        natsConnection_Destroy(requester);
        natsConnection_Destroy(responder);
}
END_TEST

/* --- two hosts race to create one name: exactly one wins ----------------- */

struct racer {
        unsigned node;
        pthread_barrier_t *start;
        natsStatus status[RACES];
};

static void *race_main(void *arg) {
        struct racer *r = arg;
        natsConnection *nc = NULL;
        jsCtx *js = NULL;
        kvStore *kv = NULL;
        char value[16];
        natsStatus s;

        snprintf(value, sizeof(value), "n%u", r->node);
        s = test_nats_connect(&nc, &cluster, r->node, true);
        if (s == NATS_OK)
                s = natsConnection_JetStream(&js, nc, NULL);
        if (s == NATS_OK)
                s = js_KeyValue(&kv, js, BUCKET);
        for (unsigned k = 0; k < RACES; k++) {
                char key[32];

                snprintf(key, sizeof(key), "race-%u", k);
                pthread_barrier_wait(r->start);
                r->status[k] = s == NATS_OK ? kvStore_CreateString(NULL, kv, key, value) : s;
        }
        kvStore_Destroy(kv);
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        return NULL;
}

START_TEST(test_kv_create_race) {
        natsConnection *nc = connect_node(0);
        jsCtx *js = jetstream(nc);
        kvStore *kv = bucket_create(js, 3);
        pthread_barrier_t start;
        struct racer racers[2] = { { .node = 1, .start = &start }, { .node = 2, .start = &start } };
        pthread_t threads[2];

        ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
        for (unsigned t = 0; t < 2; t++)
                ck_assert_int_eq(pthread_create(&threads[t], NULL, race_main, &racers[t]), 0);
        for (unsigned t = 0; t < 2; t++)
                ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
        pthread_barrier_destroy(&start);
        for (unsigned k = 0; k < RACES; k++) {
                natsStatus a = racers[0].status[k], b = racers[1].status[k];
                char key[32];

                snprintf(key, sizeof(key), "race-%u", k);
                /* The loser is told so (NATS_ERR: wrong last sequence), not left to time out. */
                ck_assert_msg((a == NATS_OK) != (b == NATS_OK), "%s: n1 got %s, n2 got %s", key,
                              natsStatus_GetText(a), natsStatus_GetText(b));
                ck_assert_msg(a == NATS_ERR || b == NATS_ERR, "%s: the loser got %s", key,
                              natsStatus_GetText(a == NATS_OK ? b : a));
                expect_leader_value(js, key, a == NATS_OK ? "n1" : "n2");
        }
        kvStore_Destroy(kv);
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
}
END_TEST

/* --- a node SIGKILLed: the other two still serve ------------------------- */

START_TEST(test_node_killed) {
        natsConnection *setup = connect_node(0);
        jsCtx *js = jetstream(setup);
        kvStore *kv = bucket_create(js, 3);
        unsigned victim, a, b;
        natsConnection *nc_a, *nc_b;
        natsSubscription *echo;
        jsCtx *js_a;
        kvStore *kv_a;
        uint64_t ms;
        char why[600];

        EXPECT_NATS(kvStore_CreateString(NULL, kv, "before", "v"));
        /* Kill the node that leads the bucket's stream: the hardest case. */
        victim = (unsigned)stream_leader(js);
        a = (victim + 1) % 3;
        b = (victim + 2) % 3;
        kvStore_Destroy(kv);
        jsCtx_Destroy(js);
        natsConnection_Destroy(setup);
        nc_a = connect_node(a);
        nc_b = connect_node(b);
        js_a = jetstream(nc_a);
        kv_a = bucket_bind(js_a);
        echo = echo_start(nc_b, "xns.b.echo");

        ck_assert_int_eq(test_nats_signal(&cluster, victim, SIGKILL), 0);

        ck_assert_msg(kv_create_within(js_a, kv_a, "after", "v", FAILOVER_MS, &ms) == NATS_OK,
                      "no KV create through the survivors within %d ms: %s", FAILOVER_MS, nats_GetLastError(NULL));
        fprintf(stderr, "test-nats: leader %s killed, a KV create went through after %llu ms\n",
                cluster.node[victim].name, (unsigned long long)ms);
        /* The registry lost nothing: a name made before is still taken. */
        ck_assert_int_eq(kvStore_CreateString(NULL, kv_a, "before", "w"), NATS_ERR);
        expect_leader_value(js_a, "before", "v");
        expect_echoes(nc_a, "xns.b.echo", 50);
        ck_assert_msg(test_nats_wait_ready(&cluster, FAILOVER_MS, why, sizeof(why)) == 0, "%s", why);

        natsSubscription_Destroy(echo);
        kvStore_Destroy(kv_a);
        jsCtx_Destroy(js_a);
        natsConnection_Destroy(nc_a);
        natsConnection_Destroy(nc_b);
}
END_TEST

/* --- a node stopped (a silent host), then continued ---------------------- */

START_TEST(test_node_stopped) {
        natsConnection *nc0 = connect_node(0), *nc1 = connect_node(1), *nc2;
        natsSubscription *echo = echo_start(nc1, "xns.n1.echo");
        jsCtx *js0 = jetstream(nc0), *js2;
        kvStore *kv = bucket_create(js0, 3);
        uint64_t ms;
        char why[600];

        expect_echoes(nc0, "xns.n1.echo", 1);
        ck_assert_int_eq(test_nats_signal(&cluster, 2, SIGSTOP), 0);
        /* Two of three still make a quorum, whoever led before. */
        expect_echoes(nc0, "xns.n1.echo", 50);
        ck_assert_msg(kv_create_within(js0, kv, "while-stopped", "v", FAILOVER_MS, &ms) == NATS_OK,
                      "no KV create with n2 stopped within %d ms: %s", FAILOVER_MS, nats_GetLastError(NULL));
        ck_assert_int_eq(test_nats_signal(&cluster, 2, SIGCONT), 0);
        ck_assert_msg(test_nats_wait_ready(&cluster, FAILOVER_MS, why, sizeof(why)) == 0, "%s", why);
        /* The continued node serves the registry as it is now. */
        nc2 = connect_node(2);
        js2 = jetstream(nc2);
        expect_leader_value(js2, "while-stopped", "v");

        jsCtx_Destroy(js2);
        natsConnection_Destroy(nc2);
        kvStore_Destroy(kv);
        jsCtx_Destroy(js0);
        natsSubscription_Destroy(echo);
        natsConnection_Destroy(nc0);
        natsConnection_Destroy(nc1);
}
END_TEST

/* --- smaller clusters: one node, two nodes ------------------------------- */

/* On every node, a name can be made once, and a request finds its responder
 * on another node (or the same one, alone). */
static void expect_cluster_serves(unsigned nodes) {
        natsConnection *first = connect_node(0), *last = connect_node(nodes - 1);
        natsSubscription *echo = echo_start(last, "xns.last.echo");
        jsCtx *js = jetstream(first);
        kvStore *kv = bucket_create(js, nodes);

        ck_assert_uint_eq(cluster.n, nodes);
        EXPECT_NATS(kvStore_CreateString(NULL, kv, "name", "v"));
        ck_assert_int_eq(kvStore_CreateString(NULL, kv, "name", "w"), NATS_ERR);
        expect_echoes(first, "xns.last.echo", 20);
        kvStore_Destroy(kv);
        jsCtx_Destroy(js);
        natsSubscription_Destroy(echo);
        natsConnection_Destroy(first);
        natsConnection_Destroy(last);
}

START_TEST(test_one_node) {
        expect_cluster_serves(1);
}
END_TEST

START_TEST(test_two_nodes) {
        expect_cluster_serves(2);
}
END_TEST

/* --- main ------------------------------------------------------------------ */

static void add_test(Suite *s, const TTest *t) {
        add_fixture_test(s, t, cluster_start, cluster_stop, TEST_TIMEOUT_S);
}

int main(void) {
        const char *exe = getenv("NATS_SERVER");
        Suite *s = suite_create("nats");
        SRunner *sr;
        int failed;

        if (!exe || access(exe, X_OK) != 0) {
                fprintf(stderr, "test-nats: nats-server is not installed (contrib/deps.sh installs it): skipped\n");
                return 77;
        }
        add_test(s, test_cluster_up);
        add_test(s, test_request_reply_across_nodes);
        add_test(s, test_kv_create_race);
        add_test(s, test_node_killed);
        add_test(s, test_node_stopped);
        add_fixture_test(s, test_one_node, cluster_start_one, cluster_stop, TEST_TIMEOUT_S);
        add_fixture_test(s, test_two_nodes, cluster_start_two, cluster_stop, TEST_TIMEOUT_S);
        sr = srunner_create(s);
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
