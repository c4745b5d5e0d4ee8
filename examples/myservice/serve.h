/* serve.h: myservice's state and its handling of one message, whatever loop receives it. */
#ifndef MYSERVICE_SERVE_H
#define MYSERVICE_SERVE_H

#include <stdbool.h>
#include <stdint.h>
#include <xous/xous.h>

#include "api.h"
#include "ticker.h"

#define MAX_SUBSCRIBERS 8

struct subscriber {
        bool used;
        xous_sid_t sid;         /* the subscriber's own server */
        xous_cid_t conn;        /* our connection to it */
};

struct service {
        xous_sid_t sid;         /* registered as SERVER_NAME_MYSERVICE */
        xous_sid_t tick_sid;    /* where the ticker sends OP_TIMER: sid, or a private server */
        xous_cid_t tick_conn;   /* the ticker's connection to tick_sid */
        struct ticker ticker;
        uint32_t count;
        uint32_t note_len;
        char note[MYSERVICE_TEXT_MAX];
        uint32_t ticks;         /* ticks seen so far */
        struct subscriber subscribers[MAX_SUBSCRIBERS];
        /* A parked OP_WAIT_TICKS, NULL when none: Rust's Option<MessageEnvelope>. */
        xous_envelope_t *waiter;
        uint32_t waiter_first, waiter_last;
};

/*
 * Register the name and start the ticker, stopped. service_init() has it send
 * OP_TIMER to the service's own server; service_init_private_ticks() to an
 * anonymous server of its own, tick_sid, which a loop watches beside sid.
 * Both print what failed and return -1.
 */
int service_init(struct service *svc);
int service_init_private_ticks(struct service *svc);
void service_deinit(struct service *svc);

__attribute__((format(printf, 1, 2)))
void say(const char *fmt, ...);

/* Handles one message from sid or tick_sid and may take it (*envp = NULL); false after OP_QUIT. */
bool service_handle(struct service *svc, xous_envelope_t **envp);

/* For event loops, when sid's descriptor (xous_server_get_fd()) polls readable: handles its
 * messages, taken with xous_try_receive_message() until none waits, or until OP_QUIT (*quit). */
xous_error_t service_drain(struct service *svc, xous_sid_t sid, bool *quit);

#endif
