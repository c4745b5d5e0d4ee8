/* caller.c: myservice-caller, drives myservice through the four caller idioms and checks every answer. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xous/xous.h>

#include "myservice.h"

#define LISTENER_TICKS 3        /* pushes to wait for in idiom 3 */
#define LISTENER_TIMEOUT_S 5
#define WAIT_TICKS 5            /* ticks to wait for in idiom 4 */

/* Opcodes of our anonymous server: the service pushes OP_TICK, we send ourselves STOP. */
enum listener_opcode {
        LISTENER_TICK = OP_TICK,
        LISTENER_STOP,
};

/* Our own anonymous server for push notifications, served on a thread of its own. */
struct listener {
        xous_sid_t sid;
        xous_cid_t conn;        /* ours, to stop it */
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        uint32_t ticks[LISTENER_TICKS];
        unsigned received;
};

static int fail(const char *what, xous_error_t e) {
        fprintf(stderr, "myservice-caller: %s failed: %s\n", what, xous_strerror(e));
        return -1;
}

__attribute__((format(printf, 1, 2)))
static int wrong(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("myservice-caller: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        return -1;
}

static double seconds_since(const struct timespec *start) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)(now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

static int demo_non_synchronizing(struct myservice *svc) {
        static const char note[] = "a note for the service";
        uint32_t count, note_len;
        xous_error_t e;

        for (uint32_t n = 1; n <= 3; n++) {
                e = myservice_log_count(svc, n);
                if (e != XOUS_OK)
                        return fail("OP_LOG_COUNT", e);
        }
        e = myservice_store(svc, note);
        if (e != XOUS_OK)
                return fail("OP_STORE", e);
        /* Messages from one thread arrive in order: this call is answered after all four. */
        e = myservice_stats(svc, &count, &note_len);
        if (e != XOUS_OK)
                return fail("OP_STATS", e);
        if (count != 1 + 2 + 3 || note_len != strlen(note))
                return wrong("OP_STATS answered counter %u and a note of %u bytes, expected 6 and %zu",
                             count, note_len, strlen(note));
        printf("1. non-synchronizing: sent 3 Scalars (+1 +2 +3) and a Move of one page (\"%s\"),\n"
               "   none of them waited; a BlockingScalar sent after them saw all four handled, in order:\n"
               "   counter %u, note of %u bytes\n\n", note, count, note_len);
        return 0;
}

static int demo_synchronous(struct myservice *svc) {
        char text[] = "hello, xns";
        uint32_t sum;
        xous_error_t e;

        e = myservice_add(svc, 2, 3, &sum);
        if (e != XOUS_OK)
                return fail("OP_ADD", e);
        if (sum != 5)
                return wrong("OP_ADD answered 2+3=%u", sum);
        e = myservice_uppercase(svc, text);
        if (e != XOUS_OK)
                return fail("OP_UPPERCASE", e);
        if (strcmp(text, "HELLO, XNS") != 0)
                return wrong("OP_UPPERCASE gave back \"%s\"", text);
        e = myservice_print(svc, text);
        if (e != XOUS_OK)
                return fail("OP_PRINT", e);
        printf("2. synchronous: each call waited for the service's answer:\n"
               "   2+3=%u (BlockingScalar), \"hello, xns\" uppercased in our own buffer to \"%s\"\n"
               "   (MutableBorrow), and the service printed it (Borrow)\n\n", sum, text);
        return 0;
}

static void listener_record(struct listener *l, uint32_t tick) {
        pthread_mutex_lock(&l->lock);
        if (l->received < LISTENER_TICKS)
                l->ticks[l->received++] = tick;
        pthread_cond_signal(&l->changed);
        pthread_mutex_unlock(&l->lock);
}

/* Only this process may stop the listener: the service knows its SID too. */
static bool listener_is_stop(const xous_envelope_t *env) {
        return xous_envelope_id(env) == LISTENER_STOP && xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR &&
               xous_envelope_sender_pid(env) == (uint32_t)getpid();
}

static void *listener_main(void *arg) {
        struct listener *l = arg;

        for (;;) {
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;

                if (xous_receive_message(l->sid, &env) != XOUS_OK)
                        return NULL;
                if (xous_envelope_id(env) == LISTENER_TICK && xous_envelope_kind(env) == XOUS_MSG_SCALAR)
                        listener_record(l, xous_envelope_args(env)[0]);
                else if (listener_is_stop(env)) {
                        xous_return_scalar(env, 1);
                        return NULL;
                }
        }
}

static int listener_start(struct listener *l) {
        pthread_condattr_t attr;
        xous_error_t e;

        *l = (struct listener){ 0 };
        e = xous_create_server(&l->sid);
        if (e != XOUS_OK)
                return fail("xous_create_server", e);
        e = xous_connect(l->sid, &l->conn);
        if (e != XOUS_OK) {
                xous_destroy_server(l->sid);
                return fail("xous_connect to our own server", e);
        }
        pthread_mutex_init(&l->lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&l->changed, &attr);
        pthread_condattr_destroy(&attr);
        if (pthread_create(&l->thread, NULL, listener_main, l) != 0) {
                pthread_cond_destroy(&l->changed);
                pthread_mutex_destroy(&l->lock);
                xous_disconnect(l->conn);
                xous_destroy_server(l->sid);
                return wrong("cannot start the listener thread");
        }
        return 0;
}

/* Waits until LISTENER_TICKS pushes arrived, or the timeout passed. */
static bool listener_wait(struct listener *l) {
        struct timespec deadline;
        bool done;

        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += LISTENER_TIMEOUT_S;
        pthread_mutex_lock(&l->lock);
        while (l->received < LISTENER_TICKS && pthread_cond_timedwait(&l->changed, &l->lock, &deadline) == 0)
                ;
        done = l->received == LISTENER_TICKS;
        pthread_mutex_unlock(&l->lock);
        return done;
}

/* A listener that cannot be stopped is left running: its thread would never join. */
static int listener_stop(struct listener *l) {
        xous_scalar_reply_t reply;
        xous_error_t e = xous_blocking_scalar(l->conn, LISTENER_STOP, 0, 0, 0, 0, &reply);

        if (e != XOUS_OK)
                return fail("stopping our listener", e);
        pthread_join(l->thread, NULL);
        xous_disconnect(l->conn);
        pthread_cond_destroy(&l->changed);
        pthread_mutex_destroy(&l->lock);
        e = xous_destroy_server(l->sid);
        if (e != XOUS_OK)
                return fail("xous_destroy_server", e);
        return 0;
}

static int check_ticks(const struct listener *l) {
        for (unsigned i = 1; i < LISTENER_TICKS; i++)
                if (l->ticks[i] != l->ticks[0] + i)
                        return wrong("pushed ticks out of order: %u after %u", l->ticks[i], l->ticks[i - 1]);
        return 0;
}

static int demo_asynchronous(struct myservice *svc) {
        static struct listener l;       /* static: outlives us if its thread cannot be stopped */
        xous_error_t e;
        bool received;

        if (listener_start(&l) < 0)
                return -1;
        e = myservice_subscribe(svc, l.sid);
        if (e != XOUS_OK) {
                listener_stop(&l);
                return fail("OP_SUBSCRIBE", e);
        }
        received = listener_wait(&l);
        e = myservice_unsubscribe(svc, l.sid);
        if (listener_stop(&l) < 0)
                return -1;
        if (!received)
                return wrong("only %u of %u ticks were pushed to us within %d s", l.received, LISTENER_TICKS,
                             LISTENER_TIMEOUT_S);
        if (e != XOUS_OK)
                return fail("OP_UNSUBSCRIBE", e);
        if (check_ticks(&l) < 0)
                return -1;
        printf("3. asynchronous: created our own anonymous server (SID %08x...) and sent its SID\n"
               "   to the service; the subscribe did not wait; the service pushed ticks %u, %u, %u\n"
               "   to it, received on the server's own thread; then we unsubscribed\n\n",
               l.sid.w[0], l.ticks[0], l.ticks[1], l.ticks[2]);
        return 0;
}

static int demo_deferred(struct myservice *svc) {
        struct timespec start;
        uint32_t first, last;
        xous_error_t e;

        clock_gettime(CLOCK_MONOTONIC, &start);
        e = myservice_wait_ticks(svc, WAIT_TICKS, &first, &last);
        if (e != XOUS_OK)
                return fail("OP_WAIT_TICKS", e);
        if (last - first + 1 != WAIT_TICKS)
                return wrong("OP_WAIT_TICKS(%u) answered ticks %u..%u", WAIT_TICKS, first, last);
        printf("4. deferred: OP_WAIT_TICKS(%u) kept us blocked for %.2f s while the service parked\n"
               "   our message and went on with its loop; it answered once it had seen ticks %u..%u\n\n",
               WAIT_TICKS, seconds_since(&start), first, last);
        return 0;
}

static int run_idioms(struct myservice *svc) {
        if (demo_non_synchronizing(svc) < 0 || demo_synchronous(svc) < 0 || demo_asynchronous(svc) < 0 ||
            demo_deferred(svc) < 0)
                return -1;
        return 0;
}

int main(void) {
        MYSERVICE_AUTO struct myservice *svc = NULL;
        xous_error_t e;
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        svc = myservice_new();
        if (!svc) {
                fprintf(stderr, "myservice-caller: cannot connect to \"%s\"\n", SERVER_NAME_MYSERVICE);
                return 1;
        }
        r = run_idioms(svc);
        e = myservice_quit(svc);
        if (e != XOUS_OK)
                r = fail("OP_QUIT", e);
        if (r < 0) {
                fprintf(stderr, "myservice-caller: FAILED\n");
                return 1;
        }
        printf("all four idioms gave the expected answers; the service acknowledged OP_QUIT\n");
        return 0;
}
