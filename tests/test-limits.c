/* test-limits.c: xnsd's limits per process and per user. A call over a
 * limit fails with the documented error, the daemon logs one line naming who
 * hit which limit, and other processes are not affected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum { OP_PING = 1, OP_TAKE = 2 };

#define MAX_NAMES 2
#define MAX_SERVERS 3
#define MAX_CIDS 4
#define MAX_QUEUED 3
#define MAX_SHM_MB 1
#define MAX_LINKS 4

static void setup_limits(void) {
        static const char *const extra[] = {
                "--max-names", "2", "--max-servers", "3", "--max-cids", "4", "--max-queued", "3",
                "--max-shm-mb", "1", "--max-links-per-uid", "4", NULL,
        };

        harness_daemon_start_args(extra, true);
}

/* One line, naming this pid and the limit, however often it was hit. */
static void expect_logged_once(const char *limit, pid_t pid) {
        char who[32];
        unsigned n;

        snprintf(who, sizeof(who), "pid %d ", (int)pid);
        n = harness_daemon_log_lines(limit, who, 2000);
        EXPECT_MSG(n == 1, "want one log line naming '%s' and '%s', got %u", limit, who, n);
}

static void register_one(void *name) {
        xous_sid_t sid;

        EXPECT_OK(xous_register_name(name, 0, &sid));
        parent_send_u32(1);
        parent_recv_u32();
}

START_TEST(names_per_process) {
        xous_sid_t a, b, c;
        struct proc other;

        EXPECT_OK(xous_register_name("lim.a", 0, &a));
        EXPECT_OK(xous_register_name("lim.b", 0, &b));
        EXPECT_ERR(xous_register_name("lim.c", 0, &c), XOUS_ERR_OUT_OF_MEMORY);
        EXPECT_ERR(xous_register_name("lim.d", 0, &c), XOUS_ERR_OUT_OF_MEMORY);
        /* Another process is not affected. */
        proc_start(&other, "other", register_one, "lim.c");
        EXPECT_EQ(proc_recv_u32(&other), 1);
        proc_send_u32(&other, 0);
        proc_wait_exit(&other, 0);
        /* A name given back makes room. */
        EXPECT_OK(xous_unregister_server(a));
        EXPECT_OK(xous_register_name("lim.e", 0, &c));
        expect_logged_once("names per process", getpid());
}
END_TEST

START_TEST(servers_per_process) {
        xous_sid_t s[MAX_SERVERS + 1];

        EXPECT_OK(xous_register_name("lim.named", 0, &s[0]));  /* a named server counts too */
        for (int i = 1; i < MAX_SERVERS; i++)
                EXPECT_OK(xous_create_server(&s[i]));
        EXPECT_ERR(xous_create_server(&s[MAX_SERVERS]), XOUS_ERR_OUT_OF_MEMORY);
        EXPECT_ERR(xous_register_name("lim.more", 0, &s[MAX_SERVERS]), XOUS_ERR_OUT_OF_MEMORY);
        EXPECT_OK(xous_destroy_server(s[1]));
        EXPECT_OK(xous_create_server(&s[1]));
        expect_logged_once("servers per process", getpid());
}
END_TEST

/* Creates n anonymous servers, sends their SIDs, and waits. */
static void make_servers(void *arg) {
        uint32_t n = *(uint32_t *)arg;

        for (uint32_t i = 0; i < n; i++) {
                xous_sid_t sid;

                EXPECT_OK(xous_create_server(&sid));
                parent_send_sid(sid);
        }
        parent_recv_u32();
}

START_TEST(cids_per_process) {
        uint32_t n0 = MAX_SERVERS, n1 = MAX_CIDS + 1 - MAX_SERVERS;
        struct proc servers[2];
        xous_sid_t sid[MAX_CIDS + 1];
        xous_cid_t cid, again;

        /* MAX_CIDS + 1 servers, from two processes (each may have MAX_SERVERS). */
        proc_start(&servers[0], "servers", make_servers, &n0);
        for (uint32_t i = 0; i < n0; i++)
                sid[i] = proc_recv_sid(&servers[0]);
        proc_start(&servers[1], "servers", make_servers, &n1);
        for (uint32_t i = 0; i < n1; i++)
                sid[n0 + i] = proc_recv_sid(&servers[1]);
        for (uint32_t i = 0; i < MAX_CIDS; i++)
                EXPECT_OK(xous_try_connect(sid[i], &cid));
        EXPECT_ERR(xous_try_connect(sid[MAX_CIDS], &cid), XOUS_ERR_OUT_OF_MEMORY);
        /* Connecting again to a server already connected takes no new slot. */
        EXPECT_OK(xous_try_connect(sid[0], &again));
        /* A freed CID makes room. */
        EXPECT_OK(xous_disconnect(cid));
        EXPECT_OK(xous_try_connect(sid[MAX_CIDS], &cid));
        for (int i = 0; i < 2; i++) {
                proc_send_u32(&servers[i], 0);
                proc_wait_exit(&servers[i], 0);
        }
        expect_logged_once("connections per process", getpid());
}
END_TEST

/* Registers "lim.lazy", receives only when told, reports each opcode. */
static void lazy_server(void *arg) {
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name("lim.lazy", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                uint32_t n = parent_recv_u32();

                if (n == 0)
                        return;
                for (uint32_t i = 0; i < n; i++) {
                        xous_envelope_t *env = NULL;

                        EXPECT_OK(xous_receive_message(sid, &env));
                        parent_send_u32(xous_envelope_id(env));
                        xous_envelope_drop(env);
                }
        }
}

static void send_one_scalar(void *arg) {
        xous_cid_t cid = connect_name("lim.lazy");

        (void)arg;
        parent_send_u32(xous_try_send_scalar(cid, OP_PING, 0, 0, 0, 0));
}

START_TEST(queued_per_process) {
        struct proc server, other;
        xous_cid_t cid;

        proc_start(&server, "server", lazy_server, NULL);
        proc_recv_sid(&server);
        cid = connect_name("lim.lazy");
        for (int i = 0; i < MAX_QUEUED; i++)
                EXPECT_OK(xous_try_send_scalar(cid, OP_PING, (uint32_t)i, 0, 0, 0));
        /* The server's queue has room (64); this process has sent enough. */
        EXPECT_ERR(xous_try_send_scalar(cid, OP_PING, 9, 0, 0, 0), XOUS_ERR_SERVER_QUEUE_FULL);
        /* A posted Scalar is refused too, and the next one on the CID says so. */
        EXPECT_OK(xous_send_scalar(cid, OP_PING, 9, 0, 0, 0));
        EXPECT_ERR(xous_try_send_scalar(cid, OP_PING, 9, 0, 0, 0), XOUS_ERR_SERVER_QUEUE_FULL);
        EXPECT_ERR(xous_send_scalar(cid, OP_PING, 9, 0, 0, 0), XOUS_ERR_SERVER_QUEUE_FULL);
        /* Someone else may still send. */
        proc_start(&other, "other", send_one_scalar, NULL);
        EXPECT_ERR(proc_recv_u32(&other), XOUS_OK);
        proc_wait_exit(&other, 0);
        /* Once the server takes one, there is room again. */
        proc_send_u32(&server, 1);
        EXPECT_EQ(proc_recv_u32(&server), OP_PING);
        EXPECT_OK(xous_try_send_scalar(cid, OP_PING, 10, 0, 0, 0));
        proc_send_u32(&server, MAX_QUEUED + 1);
        for (int i = 0; i < MAX_QUEUED + 1; i++)
                EXPECT_EQ(proc_recv_u32(&server), OP_PING);
        proc_send_u32(&server, 0);
        proc_wait_exit(&server, 0);
        expect_logged_once("messages in flight per process", getpid());
}
END_TEST

START_TEST(shm_per_user) {
        const size_t half = (MAX_SHM_MB << 20) / 2;
        struct proc server;
        xous_buf_t *a = xous_buf_new(half), *b = xous_buf_new(half), *c = xous_buf_new(PAGE);
        xous_cid_t cid;

        EXPECT(a && b && c);
        proc_start(&server, "server", lazy_server, NULL);
        proc_recv_sid(&server);
        cid = connect_name("lim.lazy");
        EXPECT_OK(xous_send(cid, OP_TAKE, a, 0, 0));            /* a and b: the whole MiB in flight */
        EXPECT_OK(xous_send(cid, OP_TAKE, b, 0, 0));
        fill_pattern(xous_buf_data(c), PAGE, 0x5a);
        EXPECT_ERR(xous_send(cid, OP_TAKE, c, 0, 0), XOUS_ERR_OUT_OF_MEMORY);
        EXPECT_MSG(check_pattern(xous_buf_data(c), PAGE, 0x5a), "a refused Move lost the caller's buffer");
        /* Once the server has dropped one, the memory is no longer in flight. */
        proc_send_u32(&server, 1);
        EXPECT_EQ(proc_recv_u32(&server), OP_TAKE);
        EXPECT_OK(xous_send(cid, OP_TAKE, c, 0, 0));
        proc_send_u32(&server, 2);
        EXPECT_EQ(proc_recv_u32(&server), OP_TAKE);
        EXPECT_EQ(proc_recv_u32(&server), OP_TAKE);
        proc_send_u32(&server, 0);
        proc_wait_exit(&server, 0);
        expect_logged_once("shared memory in flight per user", getpid());
}
END_TEST

struct linker {
        pthread_t t;
        xous_error_t e;
        volatile bool called;
        pthread_mutex_t *hold;
};

/* One call on this thread's own link, which it keeps while hold is locked. */
static void *link_and_hold(void *arg) {
        struct linker *l = arg;
        bool done;

        l->e = xous_trusted_init_done(&done);
        __atomic_store_n(&l->called, true, __ATOMIC_RELEASE);
        pthread_mutex_lock(l->hold);
        pthread_mutex_unlock(l->hold);
        return NULL;
}

START_TEST(links_per_user) {
        pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
        struct linker l[MAX_LINKS];
        bool done;
        int ok = 0;

        EXPECT_OK(xous_trusted_init_done(&done));       /* this thread's link: one */
        pthread_mutex_lock(&hold);
        for (int i = 0; i < MAX_LINKS; i++) {          /* one at a time: the last is over */
                uint64_t deadline = now_ms() + HARNESS_WAIT_MS;

                l[i] = (struct linker){ .hold = &hold };
                thread_start(&l[i].t, link_and_hold, &l[i]);
                while (!__atomic_load_n(&l[i].called, __ATOMIC_ACQUIRE)) {
                        EXPECT_MSG(now_ms() < deadline, "thread %d's call did not return", i);
                        sleep_ms(1);
                }
        }
        pthread_mutex_unlock(&hold);
        for (int i = 0; i < MAX_LINKS; i++) {
                thread_join(l[i].t, HARNESS_WAIT_MS);
                ok += l[i].e == XOUS_OK;
        }
        EXPECT_MSG(ok == MAX_LINKS - 1, "%d of %d extra links worked, want %d", ok, MAX_LINKS, MAX_LINKS - 1);
        EXPECT_ERR(l[MAX_LINKS - 1].e, XOUS_ERR_OUT_OF_MEMORY);
        expect_logged_once("links per user", getpid());
}
END_TEST

int main(void) {
        Suite *s = suite_create("limits");

        harness_add_test(s, names_per_process, setup_limits, harness_teardown);
        harness_add_test(s, servers_per_process, setup_limits, harness_teardown);
        harness_add_test(s, cids_per_process, setup_limits, harness_teardown);
        harness_add_test(s, queued_per_process, setup_limits, harness_teardown);
        harness_add_test(s, shm_per_user, setup_limits, harness_teardown);
        harness_add_test(s, links_per_user, setup_limits, harness_teardown);
        return harness_run(s);
}
