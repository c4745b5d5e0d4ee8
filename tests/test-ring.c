/* test-ring.c: posted Scalars (the ring a link shares with xnsd) between
 * processes: order kept among every kind, a full queue that holds the ring
 * and then the sender, errors reported on the next send, Scalars that
 * outlive their sender, and the Scalars a delivery carries behind it. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "wire.h"

#define QUEUE_DEPTH 64                  /* xnsd's default */
#define MAX_TAGS 4                      /* senders a tally server tells apart */
#define MAX_SEQ 8192

enum { OP_DATA = 1 };

/* --- a server that checks what arrives -----------------------------------
 * Every message carries seq, tag (the sender) and the kind it was sent as:
 * in a1..a3, or for a Move in the first three words of its buffer. The
 * server counts them and reports once it has seen cfg->want (or given up):
 * a message seen twice, from a tag out of range, of the wrong kind, from
 * another pid than its tag's first one, or (one receiving thread) out of
 * order is wrong. BlockingScalars are answered with seq + 1. */
struct tally_cfg {
        const char *name;
        uint32_t want;
        uint32_t threads;               /* receiving threads; order is checked with one */
        bool wait_go;                   /* receive only once the test says so */
        uint32_t pause_at;              /* one thread: after this many, wait for a go again (0: never) */
};

struct tally_report {
        uint32_t seen, wrong;
        uint32_t pid[MAX_TAGS];         /* sender of each tag */
        char first[160];                /* the first wrong message */
};

static struct {
        pthread_mutex_t lock;
        xous_sid_t sid;
        bool ordered;
        uint32_t pause_at;
        uint32_t next[MAX_TAGS];
        uint8_t got[MAX_TAGS][MAX_SEQ];
        struct tally_report r;
} tally = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void tally_one(xous_envelope_t *env) {
        xous_msg_kind_t kind = xous_envelope_kind(env);
        uint32_t pid = xous_envelope_sender_pid(env);
        const uint32_t *w = xous_envelope_args(env);
        char why[160] = "";

        if (kind == XOUS_MSG_MOVE) {
                EXPECT(xous_envelope_buf_len(env) >= 3 * sizeof(uint32_t));
                w = xous_envelope_buf(env);
        }
        if (kind == XOUS_MSG_BLOCKING_SCALAR)
                EXPECT_OK(xous_return_scalar(env, w[0] + 1));
        pthread_mutex_lock(&tally.lock);
        tally.r.seen++;
        if (w[1] >= MAX_TAGS || w[0] >= MAX_SEQ)
                snprintf(why, sizeof(why), "tag %u seq %u: out of range", w[1], w[0]);
        else if (w[2] != (uint32_t)kind)
                snprintf(why, sizeof(why), "tag %u seq %u: kind %d, sent as %u", w[1], w[0], kind, w[2]);
        else if (tally.got[w[1]][w[0]]++)
                snprintf(why, sizeof(why), "tag %u seq %u: twice", w[1], w[0]);
        else if (tally.ordered && w[0] != tally.next[w[1]])
                snprintf(why, sizeof(why), "tag %u: seq %u, want %u", w[1], w[0], tally.next[w[1]]);
        else if (tally.r.pid[w[1]] && tally.r.pid[w[1]] != pid)
                snprintf(why, sizeof(why), "tag %u seq %u: from pid %u, earlier ones from %u",
                         w[1], w[0], pid, tally.r.pid[w[1]]);
        if (why[0] && tally.r.wrong++ == 0)
                memcpy(tally.r.first, why, sizeof(why));
        if (w[1] < MAX_TAGS) {
                tally.next[w[1]] = w[0] + 1;    /* one gap is one wrong, not all that follow */
                if (!tally.r.pid[w[1]])
                        tally.r.pid[w[1]] = pid;
        }
        pthread_mutex_unlock(&tally.lock);
}

static void *tally_receive(void *arg) {
        (void)arg;
        for (;;) {
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(tally.sid, &env));
                tally_one(env);
                if (tally.pause_at && tally.r.seen == tally.pause_at)
                        parent_recv_u32();
        }
        return NULL;
}

/* Child: registers cfg->name, then counts; the receiving threads die with
 * the process once the report is sent. */
static void tally_server(void *arg) {
        const struct tally_cfg *cfg = arg;
        uint64_t deadline;
        struct tally_report r;
        pthread_t t;

        tally.ordered = cfg->threads == 1;
        tally.pause_at = cfg->pause_at;
        EXPECT_OK(xous_register_name(cfg->name, 0, &tally.sid));
        parent_send_sid(tally.sid);
        if (cfg->wait_go)
                parent_recv_u32();
        for (uint32_t i = 0; i < cfg->threads; i++)
                thread_start(&t, tally_receive, NULL);
        /* Short of the parent's wait, so a loss is reported as a count. */
        deadline = now_ms() + HARNESS_WAIT_MS - 2000;
        for (;;) {
                pthread_mutex_lock(&tally.lock);
                r = tally.r;
                pthread_mutex_unlock(&tally.lock);
                if (r.seen >= cfg->want || now_ms() > deadline)
                        break;
                sleep_ms(2);
        }
        /* A duplicate or a stray behind the last one would show in seen. */
        sleep_ms(50);
        pthread_mutex_lock(&tally.lock);
        r = tally.r;
        pthread_mutex_unlock(&tally.lock);
        parent_send(&r, sizeof(r));
}

/* Every one of want messages arrived once, as sent; the report, for pids. */
static struct tally_report expect_tally(struct proc *server, uint32_t want) {
        struct tally_report r;

        proc_recv(server, &r, sizeof(r));
        EXPECT_MSG(r.seen == want, "the server saw %u messages, want %u (first wrong: '%s')",
                   r.seen, want, r.first);
        EXPECT_MSG(r.wrong == 0, "%u wrong messages, the first: %s", r.wrong, r.first);
        proc_wait_exit(server, 0);
        return r;
}

/* A round trip on this thread's link: xnsd takes everything the thread
 * posted before it answers. */
static void sync_link(void) {
        bool done;

        EXPECT_OK(xous_trusted_init_done(&done));
}

/* --- order ------------------------------------------------------------- */

#define MIXED 1200      /* every 12: 10 Scalars, a BlockingScalar, a Move */

/* Scalars go through the ring, the other kinds as frames on the socket:
 * one thread's messages still arrive in the order sent. */
START_TEST(order_mixed_kinds) {
        struct tally_cfg cfg = { .name = "ring.order", .want = MIXED, .threads = 1 };
        struct proc server;
        xous_cid_t cid;

        proc_start(&server, "server", tally_server, &cfg);
        proc_recv_sid(&server);
        cid = connect_name("ring.order");
        for (uint32_t seq = 0; seq < MIXED; seq++) {
                xous_scalar_reply_t r = { 0 };
                xous_buf_t *buf;
                uint32_t *w;

                switch (seq % 12) {
                case 5:
                        EXPECT_OK(xous_blocking_scalar(cid, OP_DATA, seq, 0, XOUS_MSG_BLOCKING_SCALAR, 0, &r));
                        EXPECT_EQ(r.v[0], seq + 1);
                        break;
                case 11:
                        buf = xous_buf_new(PAGE);
                        EXPECT(buf);
                        w = xous_buf_data(buf);
                        w[0] = seq;
                        w[1] = 0;
                        w[2] = XOUS_MSG_MOVE;
                        EXPECT_OK(xous_send(cid, OP_DATA, buf, 0, 3 * sizeof(uint32_t)));
                        break;
                default:
                        EXPECT_OK(xous_send_scalar(cid, OP_DATA, seq, 0, XOUS_MSG_SCALAR, 0));
                }
        }
        expect_tally(&server, MIXED);
}
END_TEST

/* --- a full queue ------------------------------------------------------ */

#define FILL 400        /* more than the queue, the one waiting and the ring */

/* Posts FILL Scalars, telling the parent after each one returned. */
static void filling_sender(void *arg) {
        xous_cid_t cid = connect_name("ring.full");

        (void)arg;
        for (uint32_t i = 0; i < FILL; i++) {
                EXPECT_OK(xous_send_scalar(cid, OP_DATA, i, 0, XOUS_MSG_SCALAR, 0));
                parent_send_u32(i + 1);
        }
}

/* A server that does not receive: its queue fills, one Scalar waits for
 * room at the head of the ring (still in it, as the client sees it), the
 * ring fills behind it, and only then does the sender wait. Nothing is
 * lost or reordered when it receives. */
START_TEST(full_queue_then_ring_then_wait) {
        struct tally_cfg cfg = { .name = "ring.full", .want = FILL, .threads = 1, .wait_go = true };
        struct proc server, sender;
        uint32_t returned = 0, n;
        uint64_t deadline;

        proc_start(&server, "server", tally_server, &cfg);
        proc_recv_sid(&server);
        proc_start(&sender, "sender", filling_sender, NULL);
        /* Sends return until the sender stops for half a second. */
        deadline = now_ms() + HARNESS_WAIT_MS;
        while (returned < FILL && proc_recv_timeout(&sender, &n, sizeof(n), 500) == 1) {
                returned = n;
                EXPECT_MSG(now_ms() < deadline, "the sender never waited (%u sends returned)", returned);
        }
        EXPECT_MSG(returned == QUEUE_DEPTH + XNS_RING_SLOTS,
                   "%u sends returned before the sender waited, want %u (queue) + %u (ring)",
                   returned, QUEUE_DEPTH, XNS_RING_SLOTS);
        /* The server receives: the waiting send returns, the rest follow. */
        proc_send_u32(&server, 1);
        for (uint32_t i = returned + 1; i <= FILL; i++)
                EXPECT_EQ(proc_recv_u32(&sender), i);
        proc_wait_exit(&sender, 0);
        expect_tally(&server, FILL);
}
END_TEST

/* --- errors ------------------------------------------------------------ */

/* Waits until xnsd knows the server is gone. */
static void wait_server_gone(xous_sid_t sid) {
        uint64_t deadline = now_ms() + HARNESS_WAIT_MS;
        xous_cid_t cid;

        while (xous_try_connect(sid, &cid) != XOUS_ERR_SERVER_NOT_FOUND) {
                EXPECT_MSG(now_ms() < deadline, "the killed server still exists after %d ms", HARNESS_WAIT_MS);
                sleep_ms(5);
        }
}

/* A Scalar posted to a dead server fails in xnsd: the next send on that
 * CID says so, at the latest once a synchronous call of the thread has
 * returned, and only once; sends on other CIDs are not affected. */
START_TEST(error_reported_on_next_send) {
        struct tally_cfg cfg = { .name = "ring.live", .want = 3, .threads = 1 };
        struct proc dead, live;
        xous_scalar_reply_t r = { 0 };
        xous_sid_t dead_sid;
        xous_cid_t a, b;

        proc_start(&dead, "dead", echo_server, "ring.dead");
        dead_sid = proc_recv_sid(&dead);
        proc_start(&live, "live", tally_server, &cfg);
        proc_recv_sid(&live);
        a = connect_name("ring.dead");
        b = connect_name("ring.live");
        EXPECT_OK(xous_blocking_scalar(a, 1, 1, 0, 0, 0, &r));
        proc_kill(&dead);
        wait_server_gone(dead_sid);
        /* Posted: nothing has been reported yet. */
        EXPECT_OK(xous_send_scalar(a, OP_DATA, 100, 0, XOUS_MSG_SCALAR, 0));
        /* Synchronous, so its own error at once; the posted one's comes before it. */
        EXPECT_ERR(xous_try_send_scalar(a, OP_DATA, 101, 0, XOUS_MSG_SCALAR, 0), XOUS_ERR_SERVER_NOT_FOUND);
        /* a's error is not b's. */
        EXPECT_OK(xous_send_scalar(b, OP_DATA, 0, 0, XOUS_MSG_SCALAR, 0));
        EXPECT_ERR(xous_send_scalar(a, OP_DATA, 102, 0, XOUS_MSG_SCALAR, 0), XOUS_ERR_SERVER_NOT_FOUND);
        /* Reported once: the next one is posted again, and fails again, seen
         * after any synchronous call, here one on b. */
        EXPECT_OK(xous_send_scalar(a, OP_DATA, 103, 0, XOUS_MSG_SCALAR, 0));
        EXPECT_OK(xous_blocking_scalar(b, OP_DATA, 1, 0, XOUS_MSG_BLOCKING_SCALAR, 0, &r));
        EXPECT_EQ(r.v[0], 2);
        EXPECT_ERR(xous_send_scalar(a, OP_DATA, 104, 0, XOUS_MSG_SCALAR, 0), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_OK(xous_send_scalar(a, OP_DATA, 105, 0, XOUS_MSG_SCALAR, 0));
        EXPECT_OK(xous_send_scalar(b, OP_DATA, 2, 0, XOUS_MSG_SCALAR, 0));
        /* b got its three and nothing meant for a. */
        expect_tally(&live, 3);
}
END_TEST

#define MAX_QUEUED 8

static void setup_max_queued(void) {
        static const char *const extra[] = { "--max-queued", "8", NULL };

        harness_daemon_start_args(extra, false);
}

static void expect_receive(xous_sid_t sid, uint32_t seq) {
        XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;

        EXPECT_OK(xous_try_receive_message(sid, &env));
        EXPECT_MSG(env, "nothing queued, want seq %u", seq);
        EXPECT_EQ(xous_envelope_kind(env), XOUS_MSG_SCALAR);
        EXPECT_EQ(xous_envelope_args(env)[0], seq);
}

static void expect_empty(xous_sid_t sid) {
        XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;

        EXPECT_OK(xous_try_receive_message(sid, &env));
        EXPECT_MSG(env == NULL, "unexpected message, seq %u", xous_envelope_args(env)[0]);
}

/* A Scalar over the process's --max-queued is dropped by xnsd and reported
 * on the next send as SERVER_QUEUE_FULL; those within the limit arrive. */
START_TEST(error_over_max_queued) {
        xous_sid_t sid;
        xous_cid_t cid;

        EXPECT_OK(xous_create_server(&sid));
        EXPECT_OK(xous_connect(sid, &cid));
        for (uint32_t i = 0; i < MAX_QUEUED; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_DATA, i, 0, 0, 0));
        EXPECT_OK(xous_send_scalar(cid, OP_DATA, MAX_QUEUED, 0, 0, 0));
        sync_link();
        EXPECT_ERR(xous_send_scalar(cid, OP_DATA, 99, 0, 0, 0), XOUS_ERR_SERVER_QUEUE_FULL);
        for (uint32_t i = 0; i < MAX_QUEUED; i++)
                expect_receive(sid, i);
        expect_empty(sid);
        /* Room again, and the error was reported once. */
        EXPECT_OK(xous_send_scalar(cid, OP_DATA, 100, 0, 0, 0));
        sync_link();
        expect_receive(sid, 100);
        expect_empty(sid);
}
END_TEST

/* --- senders that leave ------------------------------------------------ */

#define EXIT_FLOOD 5000

/* Posts EXIT_FLOOD Scalars and leaves at once: by _exit, or SIGKILL (arg). */
static void flood_and_leave(void *arg) {
        xous_cid_t cid = connect_name("ring.exit");

        for (uint32_t i = 0; i < EXIT_FLOOD; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_DATA, i, 0, XOUS_MSG_SCALAR, 0));
        if (arg)
                raise(SIGKILL);
        _exit(0);
}

/* What a sender posted is delivered even though it left right after:
 * xnsd drains the ring of a link that goes. The server stops receiving
 * just short of the end, so that the last Scalars sit in a full queue and
 * in the ring behind it when the sender leaves. */
static void leaving_sender(bool killed) {
        struct tally_cfg cfg = {
                .name = "ring.exit", .want = EXIT_FLOOD, .threads = 1,
                .pause_at = EXIT_FLOOD - (QUEUE_DEPTH + XNS_RING_SLOTS),
        };
        struct proc server, sender;

        proc_start(&server, "server", tally_server, &cfg);
        proc_recv_sid(&server);
        proc_start(&sender, "sender", flood_and_leave, killed ? &cfg : NULL);
        if (killed)
                proc_wait_signal(&sender, SIGKILL);
        else
                proc_wait_exit(&sender, 0);
        proc_send_u32(&server, 1);
        expect_tally(&server, EXIT_FLOOD);
}

START_TEST(sender_exits_right_after_sending) {
        leaving_sender(false);
}
END_TEST

START_TEST(sender_killed_right_after_sending) {
        leaving_sender(true);
}
END_TEST

/* --- Scalars handed over behind a delivery ----------------------------- */

#define HELD 10

/* The first receive brings the other nine along; they are the server's
 * and go with it: after destroy or unregister none is handed out, and a
 * new server starts empty. */
static void held_then_gone(bool named) {
        xous_envelope_t *env = NULL;
        xous_sid_t sid, fresh;
        xous_cid_t cid;

        if (named)
                EXPECT_OK(xous_register_name("ring.held", 0, &sid));
        else
                EXPECT_OK(xous_create_server(&sid));
        EXPECT_OK(xous_connect(sid, &cid));
        for (uint32_t i = 0; i < HELD; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_DATA, i, 0, 0, 0));
        sync_link();
        EXPECT_OK(xous_receive_message(sid, &env));
        EXPECT_EQ(xous_envelope_args(env)[0], 0);
        xous_envelope_drop(env);
        /* The nine wait here, not in xnsd: its queue takes a full one more
         * (else this test would not test what it says). */
        for (uint32_t i = 0; i < QUEUE_DEPTH; i++)
                EXPECT_OK(xous_try_send_scalar(cid, OP_DATA, 100 + i, 0, 0, 0));
        EXPECT_ERR(xous_try_send_scalar(cid, OP_DATA, 99, 0, 0, 0), XOUS_ERR_SERVER_QUEUE_FULL);
        /* They come first, in order. */
        expect_receive(sid, 1);
        if (named)
                EXPECT_OK(xous_unregister_server(sid));
        else
                EXPECT_OK(xous_destroy_server(sid));
        env = NULL;
        EXPECT_ERR(xous_try_receive_message(sid, &env), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_MSG(env == NULL, "a held message of a destroyed server, seq %u", xous_envelope_args(env)[0]);
        EXPECT_ERR(xous_receive_message(sid, &env), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT(env == NULL);
        if (named)
                EXPECT_OK(xous_register_name("ring.held", 0, &fresh));
        else
                EXPECT_OK(xous_create_server(&fresh));
        EXPECT_OK(xous_connect(fresh, &cid));
        EXPECT_OK(xous_send_scalar(cid, OP_DATA, 1000, 0, 0, 0));
        sync_link();
        expect_receive(fresh, 1000);
        expect_empty(fresh);
}

START_TEST(held_scalars_dropped_with_server) {
        held_then_gone(false);
}
END_TEST

START_TEST(held_scalars_dropped_with_name) {
        held_then_gone(true);
}
END_TEST

/* --- a pool of receiving threads --------------------------------------- */

#define POOL_THREADS 4
#define POOL_EACH 1000

static void pool_sender(void *arg) {
        uint32_t tag = (uint32_t)(uintptr_t)arg;
        xous_cid_t cid = connect_name("ring.pool");

        for (uint32_t i = 0; i < POOL_EACH; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_DATA, i, tag, XOUS_MSG_SCALAR, 0));
}

/* Threads receiving on one server share the Scalars: each arrives once,
 * whichever thread takes it. */
START_TEST(pool_threads_share) {
        struct tally_cfg cfg = { .name = "ring.pool", .want = 2 * POOL_EACH, .threads = POOL_THREADS };
        struct proc server, a, b;

        proc_start(&server, "server", tally_server, &cfg);
        proc_recv_sid(&server);
        proc_start(&a, "sender 1", pool_sender, (void *)(uintptr_t)1);
        proc_start(&b, "sender 2", pool_sender, (void *)(uintptr_t)2);
        proc_wait_exit(&a, 0);
        proc_wait_exit(&b, 0);
        expect_tally(&server, 2 * POOL_EACH);
}
END_TEST

/* --- fork -------------------------------------------------------------- */

#define FORK_EACH 300   /* more than a ring */

/* The forked child: the parent's CID is not its own; its own connection
 * posts through a ring of its own. */
static void fork_child(void *arg) {
        xous_cid_t parent_cid = *(xous_cid_t *)arg, cid;

        EXPECT_ERR(xous_send_scalar(parent_cid, OP_DATA, 0, 3, XOUS_MSG_SCALAR, 0), XOUS_ERR_SERVER_NOT_FOUND);
        cid = connect_name("ring.fork");
        for (uint32_t i = 0; i < FORK_EACH; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_DATA, i, 1, XOUS_MSG_SCALAR, 0));
}

/* A process that posted Scalars forks; both go on posting, and each one's
 * Scalars arrive, in order, from its own pid. */
START_TEST(fork_child_own_ring) {
        struct tally_cfg cfg = { .name = "ring.fork", .want = 3 * FORK_EACH, .threads = 1 };
        struct tally_report r;
        struct proc server, child;
        xous_cid_t cid;

        proc_start(&server, "server", tally_server, &cfg);
        proc_recv_sid(&server);
        cid = connect_name("ring.fork");
        for (uint32_t i = 0; i < FORK_EACH; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_DATA, i, 0, XOUS_MSG_SCALAR, 0));
        proc_start(&child, "child", fork_child, &cid);
        for (uint32_t i = FORK_EACH; i < 2 * FORK_EACH; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_DATA, i, 0, XOUS_MSG_SCALAR, 0));
        proc_wait_exit(&child, 0);
        r = expect_tally(&server, 3 * FORK_EACH);
        EXPECT_EQ(r.pid[0], getpid());
        EXPECT_EQ(r.pid[1], child.pid);
}
END_TEST

/* A thread posts past a full queue and ends: its link, whose Scalars xnsd
 * cannot queue yet, goes back to the pool. A new thread must not get that
 * link, whose frames xnsd does not read meanwhile: here the new thread is
 * the receiver that makes room, and would wait behind the Scalars forever. */
static xous_sid_t pool_sid;

static void *posting_thread(void *arg) {
        xous_cid_t cid;

        (void)arg;
        EXPECT_OK(xous_try_connect(pool_sid, &cid));
        for (uint32_t i = 0; i < 100; i++)      /* 64 queued, 1 waits for room, 35 in the ring */
                EXPECT_OK(xous_send_scalar(cid, 1, i, 0, 0, 0));
        return NULL;
}

static void *receiving_thread(void *arg) {
        (void)arg;
        for (uint32_t i = 0; i < 100; i++) {
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(pool_sid, &env));
                EXPECT_EQ(xous_envelope_args(env)[0], i);
        }
        return NULL;
}

START_TEST(pooled_link_with_waiting_scalars_not_reused) {
        pthread_t p, r;

        EXPECT_OK(xous_create_server(&pool_sid));
        thread_start(&p, posting_thread, NULL);
        thread_join(p, 5000);                   /* it returned: its Scalars did not wait */
        thread_start(&r, receiving_thread, NULL);
        thread_join(r, 5000);
        EXPECT_OK(xous_destroy_server(pool_sid));
}
END_TEST

/* More CIDs with a failed Scalar than the library keeps (8): only the
 * oldest failure is forgotten; every later one is told. */
START_TEST(ninth_failure_forgets_only_the_oldest) {
        enum { N = 9 };
        xous_sid_t sid[N];
        xous_cid_t cid[N];
        bool done;

        for (int i = 0; i < N; i++) {
                EXPECT_OK(xous_create_server(&sid[i]));
                EXPECT_OK(xous_try_connect(sid[i], &cid[i]));
        }
        for (int i = 0; i < N; i++)
                EXPECT_OK(xous_destroy_server(sid[i]));
        for (int i = 0; i < N; i++) {           /* one failure at a time, told by a call */
                EXPECT_OK(xous_send_scalar(cid[i], 1, i, 0, 0, 0));
                EXPECT_OK(xous_trusted_init_done(&done));
        }
        for (int i = 1; i < N; i++)
                EXPECT_MSG(xous_send_scalar(cid[i], 1, 100, 0, 0, 0) == XOUS_ERR_SERVER_NOT_FOUND,
                           "the failure on CID #%d was forgotten", i);
}
END_TEST

int main(void) {
        Suite *s = suite_create("ring");

        HARNESS_ADD(s, order_mixed_kinds);
        HARNESS_ADD(s, full_queue_then_ring_then_wait);
        HARNESS_ADD(s, error_reported_on_next_send);
        harness_add_test(s, error_over_max_queued, setup_max_queued, harness_teardown);
        HARNESS_ADD(s, sender_exits_right_after_sending);
        HARNESS_ADD(s, sender_killed_right_after_sending);
        HARNESS_ADD(s, held_scalars_dropped_with_server);
        HARNESS_ADD(s, held_scalars_dropped_with_name);
        HARNESS_ADD(s, pool_threads_share);
        HARNESS_ADD(s, fork_child_own_ring);
        HARNESS_ADD(s, pooled_link_with_waiting_scalars_not_reused);
        HARNESS_ADD(s, ninth_failure_forgets_only_the_oldest);
        return harness_run(s);
}
