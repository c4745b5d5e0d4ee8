/* serve.c: myservice's handling of its messages, one function per opcode, shared by every loop
 * that receives them (main.c, main-libevent.c, main-sd-event.c). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "serve.h"

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define TICK_PERIOD_MS 100

/* The kind each opcode must arrive as; anything else is dropped unread. */
static const xous_msg_kind_t opcode_kind[] = {
        [OP_LOG_COUNT] = XOUS_MSG_SCALAR,
        [OP_STORE] = XOUS_MSG_MOVE,
        [OP_STATS] = XOUS_MSG_BLOCKING_SCALAR,
        [OP_ADD] = XOUS_MSG_BLOCKING_SCALAR,
        [OP_UPPERCASE] = XOUS_MSG_MUTABLE_BORROW,
        [OP_PRINT] = XOUS_MSG_BORROW,
        [OP_SUBSCRIBE] = XOUS_MSG_SCALAR,
        [OP_UNSUBSCRIBE] = XOUS_MSG_BLOCKING_SCALAR,
        [OP_WAIT_TICKS] = XOUS_MSG_BLOCKING_SCALAR,
        [OP_QUIT] = XOUS_MSG_BLOCKING_SCALAR,
        [OP_TIMER] = XOUS_MSG_SCALAR,
};

/* The service's account of what it does, on stdout. */
void say(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("[myservice] ", stdout);
        vprintf(fmt, ap);
        putchar('\n');
        va_end(ap);
}

static bool validate_message(const xous_envelope_t *env) {
        uint32_t op = xous_envelope_id(env);

        return op < ELEMENTSOF(opcode_kind) && xous_envelope_kind(env) == opcode_kind[op];
}

/* The text a memory message carries, NULL if its offset/valid point outside the buffer. */
static char *envelope_text(xous_envelope_t *env, uint32_t *len) {
        size_t size = xous_envelope_buf_len(env);
        uint32_t offset = xous_envelope_offset(env), valid = xous_envelope_valid(env);
        char *buf = xous_envelope_buf(env);

        if (!buf || offset > size || valid > size - offset)
                return NULL;
        *len = valid;
        return buf + offset;
}

static xous_sid_t sid_from_args(const uint32_t *args) {
        return (xous_sid_t){ { args[0], args[1], args[2], args[3] } };
}

static struct subscriber *subscriber_find(struct service *svc, xous_sid_t sid) {
        for (size_t i = 0; i < MAX_SUBSCRIBERS; i++) {
                struct subscriber *sub = &svc->subscribers[i];

                if (sub->used && !memcmp(&sub->sid, &sid, sizeof(sid)))
                        return sub;
        }
        return NULL;
}

static struct subscriber *subscriber_free_slot(struct service *svc) {
        for (size_t i = 0; i < MAX_SUBSCRIBERS; i++)
                if (!svc->subscribers[i].used)
                        return &svc->subscribers[i];
        return NULL;
}

static void subscriber_remove(struct subscriber *sub) {
        xous_disconnect(sub->conn);
        sub->used = false;
}

static bool service_wants_ticks(const struct service *svc) {
        for (size_t i = 0; i < MAX_SUBSCRIBERS; i++)
                if (svc->subscribers[i].used)
                        return true;
        return svc->waiter != NULL;
}

static void on_log_count(struct service *svc, xous_envelope_t *env) {
        uint32_t n = xous_envelope_args(env)[0];

        svc->count += n;
        say("OP_LOG_COUNT (Scalar) +%u: the counter is %u", n, svc->count);
}

/* The pages are ours now; dropping the envelope frees them. */
static void on_store(struct service *svc, xous_envelope_t *env) {
        uint32_t len;
        const char *text = envelope_text(env, &len);

        if (!text || len > sizeof(svc->note)) {
                say("OP_STORE (Move): bad offset/valid, ignored");
                return;
        }
        memcpy(svc->note, text, len);
        svc->note_len = len;
        say("OP_STORE (Move): kept \"%.*s\" (%u bytes)", (int)len, text, len);
}

static void on_stats(struct service *svc, xous_envelope_t *env) {
        xous_return_scalar2(env, svc->count, svc->note_len);
        say("OP_STATS (BlockingScalar): answered counter %u, note of %u bytes", svc->count, svc->note_len);
}

static void on_add(xous_envelope_t *env) {
        const uint32_t *args = xous_envelope_args(env);

        xous_return_scalar(env, args[0] + args[1]);
        say("OP_ADD (BlockingScalar): %u+%u=%u", args[0], args[1], args[0] + args[1]);
}

/* Our changes and the new offset/valid go back to the caller when the envelope drops. */
static void on_uppercase(xous_envelope_t *env) {
        uint32_t len;
        char *text = envelope_text(env, &len);

        if (!text) {
                say("OP_UPPERCASE (MutableBorrow): bad offset/valid, returned unchanged");
                return;
        }
        for (uint32_t i = 0; i < len; i++)
                text[i] = toupper((unsigned char)text[i]);
        xous_envelope_set_offset_valid(env, xous_envelope_offset(env), len);
        say("OP_UPPERCASE (MutableBorrow): \"%.*s\", in the caller's own buffer", (int)len, text);
}

static void on_print(xous_envelope_t *env) {
        uint32_t len;
        const char *text = envelope_text(env, &len);

        if (!text) {
                say("OP_PRINT (Borrow): bad offset/valid, ignored");
                return;
        }
        say("OP_PRINT (Borrow): \"%.*s\"", (int)len, text);
}

/* try_connect: a SID that names no server must not stall the loop. */
static void on_subscribe(struct service *svc, xous_envelope_t *env) {
        xous_sid_t sid = sid_from_args(xous_envelope_args(env));
        struct subscriber *sub = subscriber_find(svc, sid);
        xous_error_t e;

        if (sub)
                return;
        sub = subscriber_free_slot(svc);
        if (!sub) {
                say("OP_SUBSCRIBE (Scalar): no room for another subscriber, ignored");
                return;
        }
        e = xous_try_connect(sid, &sub->conn);
        if (e != XOUS_OK) {
                say("OP_SUBSCRIBE (Scalar): server %08x...: %s, ignored", sid.w[0], xous_strerror(e));
                return;
        }
        sub->sid = sid;
        sub->used = true;
        say("OP_SUBSCRIBE (Scalar): connected to the caller's server %08x..., will push OP_TICK", sid.w[0]);
}

static void on_unsubscribe(struct service *svc, xous_envelope_t *env) {
        xous_sid_t sid = sid_from_args(xous_envelope_args(env));
        struct subscriber *sub = subscriber_find(svc, sid);

        if (sub)
                subscriber_remove(sub);
        xous_return_scalar(env, sub != NULL);
        say("OP_UNSUBSCRIBE (BlockingScalar): server %08x... %s", sid.w[0],
            sub ? "disconnected" : "was not subscribed");
}

/* Parking moves the envelope out of the loop's variable, so the loop's drop does not return it. */
static void on_wait_ticks(struct service *svc, xous_envelope_t **envp) {
        uint32_t n = xous_envelope_args(*envp)[0];

        if (svc->waiter) {
                say("OP_WAIT_TICKS (BlockingScalar): a caller is already waiting; dropped unanswered");
                return;
        }
        svc->waiter_first = svc->ticks + 1;
        svc->waiter_last = svc->ticks + n;
        if (n == 0) {
                xous_return_scalar2(*envp, svc->waiter_first, svc->waiter_last);
                say("OP_WAIT_TICKS (BlockingScalar) 0: answered at once");
                return;
        }
        svc->waiter = *envp;
        *envp = NULL;
        say("OP_WAIT_TICKS (BlockingScalar) %u: parked until tick %u; the caller stays blocked, the loop goes on",
            n, svc->waiter_last);
}

/* Takes the parked envelope back into scope, answers it, and drops it: the caller wakes. */
static void waiter_answer(struct service *svc) {
        XOUS_ENVELOPE_AUTO xous_envelope_t *env = svc->waiter;

        svc->waiter = NULL;
        xous_return_scalar2(env, svc->waiter_first, svc->waiter_last);
        say("tick %u: answered the parked OP_WAIT_TICKS with ticks %u..%u",
            svc->ticks, svc->waiter_first, svc->waiter_last);
}

/* try_send: a subscriber that does not keep up misses ticks; it never blocks us. */
static unsigned push_tick(struct service *svc) {
        unsigned pushed = 0;

        for (size_t i = 0; i < MAX_SUBSCRIBERS; i++) {
                struct subscriber *sub = &svc->subscribers[i];
                xous_error_t e;

                if (!sub->used)
                        continue;
                e = xous_try_send_scalar(sub->conn, OP_TICK, svc->ticks, 0, 0, 0);
                if (e == XOUS_OK)
                        pushed++;
                else if (e != XOUS_ERR_SERVER_QUEUE_FULL) {
                        say("subscriber %08x...: %s, dropped", sub->sid.w[0], xous_strerror(e));
                        subscriber_remove(sub);
                }
        }
        return pushed;
}

static void on_timer(struct service *svc, xous_envelope_t *env) {
        unsigned pushed;

        if (xous_envelope_sender_pid(env) != (uint32_t)getpid()) {
                say("OP_TIMER from pid %u, not from our ticker: ignored", xous_envelope_sender_pid(env));
                return;
        }
        svc->ticks++;
        pushed = push_tick(svc);
        if (pushed)
                say("tick %u: pushed OP_TICK to %u subscriber(s)", svc->ticks, pushed);
        else
                say("tick %u", svc->ticks);
        if (svc->waiter && svc->ticks >= svc->waiter_last)
                waiter_answer(svc);
}

static void on_quit(xous_envelope_t *env) {
        xous_return_scalar(env, 1);
        say("OP_QUIT (BlockingScalar): acked, leaving the loop");
}

static bool service_dispatch(struct service *svc, xous_envelope_t **envp) {
        xous_envelope_t *env = *envp;

        if (!validate_message(env)) {
                say("opcode %u as kind %d is not in our API, dropped", xous_envelope_id(env),
                    (int)xous_envelope_kind(env));
                return true;
        }
        switch ((enum myservice_opcode)xous_envelope_id(env)) {
        case OP_LOG_COUNT: on_log_count(svc, env); break;
        case OP_STORE: on_store(svc, env); break;
        case OP_STATS: on_stats(svc, env); break;
        case OP_ADD: on_add(env); break;
        case OP_UPPERCASE: on_uppercase(env); break;
        case OP_PRINT: on_print(env); break;
        case OP_SUBSCRIBE: on_subscribe(svc, env); break;
        case OP_UNSUBSCRIBE: on_unsubscribe(svc, env); break;
        case OP_WAIT_TICKS: on_wait_ticks(svc, envp); break;
        case OP_TIMER: on_timer(svc, env); break;
        case OP_QUIT: on_quit(env); return false;
        }
        return true;
}

/* Handles one message from sid or tick_sid; may take it (*envp = NULL). False after OP_QUIT. */
bool service_handle(struct service *svc, xous_envelope_t **envp) {
        if (!service_dispatch(svc, envp))
                return false;
        ticker_set_running(&svc->ticker, service_wants_ticks(svc));
        return true;
}

/*
 * What an event loop does when sid's descriptor polls readable: take messages until none waits.
 * Each is dropped at the end of its pass, which answers a synchronous one. Returns the receive's
 * error; *quit after OP_QUIT, whose caller then leaves the loop.
 */
xous_error_t service_drain(struct service *svc, xous_sid_t sid, bool *quit) {
        *quit = false;
        for (;;) {
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;
                xous_error_t e = xous_try_receive_message(sid, &env);

                if (e != XOUS_OK || !env)
                        return e;
                if (!service_handle(svc, &env)) {
                        *quit = true;
                        return XOUS_OK;
                }
        }
}

static int service_register(struct service *svc) {
        xous_error_t e = xous_register_name(SERVER_NAME_MYSERVICE, 0, &svc->sid);

        if (e != XOUS_OK) {
                fprintf(stderr, "myservice-server: register \"%s\": %s\n", SERVER_NAME_MYSERVICE, xous_strerror(e));
                return -1;
        }
        return 0;
}

/* The ticker sends OP_TIMER to svc->tick_sid. */
static int service_start_ticker(struct service *svc) {
        xous_error_t e = xous_connect(svc->tick_sid, &svc->tick_conn);
        int r;

        if (e != XOUS_OK) {
                fprintf(stderr, "myservice-server: connect for the ticker: %s\n", xous_strerror(e));
                return -1;
        }
        r = ticker_start(&svc->ticker, svc->tick_conn, OP_TIMER, TICK_PERIOD_MS);
        if (r < 0) {
                fprintf(stderr, "myservice-server: ticker: %s\n", strerror(-r));
                xous_disconnect(svc->tick_conn);
                return -1;
        }
        return 0;
}

/* Registers the name and starts the ticker, stopped, sending to the service's own server.
 * Prints what failed and returns -1. */
int service_init(struct service *svc) {
        if (service_register(svc) < 0)
                return -1;
        svc->tick_sid = svc->sid;
        if (service_start_ticker(svc) < 0) {
                xous_unregister_server(svc->sid);
                return -1;
        }
        return 0;
}

/* The same, but the ticker sends to an anonymous server of ours, tick_sid, which no caller knows
 * and the loop watches beside sid: ticks never queue behind callers' messages. */
int service_init_private_ticks(struct service *svc) {
        xous_error_t e;

        if (service_register(svc) < 0)
                return -1;
        e = xous_create_server(&svc->tick_sid);
        if (e != XOUS_OK) {
                fprintf(stderr, "myservice-server: create the ticker's server: %s\n", xous_strerror(e));
                xous_unregister_server(svc->sid);
                return -1;
        }
        if (service_start_ticker(svc) < 0) {
                xous_destroy_server(svc->tick_sid);
                xous_unregister_server(svc->sid);
                return -1;
        }
        return 0;
}

/* A waiter still parked is dropped unanswered: its call fails instead of hanging. */
void service_deinit(struct service *svc) {
        xous_envelope_drop(svc->waiter);
        svc->waiter = NULL;
        for (size_t i = 0; i < MAX_SUBSCRIBERS; i++)
                if (svc->subscribers[i].used)
                        subscriber_remove(&svc->subscribers[i]);
        ticker_stop(&svc->ticker);
        xous_disconnect(svc->tick_conn);
        if (memcmp(&svc->tick_sid, &svc->sid, sizeof(svc->sid)) != 0)
                xous_destroy_server(svc->tick_sid);
        xous_unregister_server(svc->sid);
}
