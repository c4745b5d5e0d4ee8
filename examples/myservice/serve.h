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

int service_init(struct service *svc);
int service_init_private_ticks(struct service *svc);
void service_deinit(struct service *svc);

__attribute__((format(printf, 1, 2)))
void say(const char *fmt, ...);

bool service_handle(struct service *svc, xous_envelope_t **envp);
xous_error_t service_drain(struct service *svc, xous_sid_t sid, bool *quit);

#endif
