/* ticker.h: myservice's event source, a thread that sends the service a tick while wanted. */
#ifndef MYSERVICE_TICKER_H
#define MYSERVICE_TICKER_H

#include <pthread.h>
#include <stdbool.h>
#include <xous/xous.h>

struct ticker {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        xous_cid_t conn;        /* to the service itself */
        uint32_t opcode;
        unsigned period_ms;
        bool running;
        bool stop;
};

/* Sends Scalar `opcode` on conn every period_ms while running; starts stopped. */
int ticker_start(struct ticker *t, xous_cid_t conn, uint32_t opcode, unsigned period_ms);
void ticker_set_running(struct ticker *t, bool running);
void ticker_stop(struct ticker *t);

#endif
