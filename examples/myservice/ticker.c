/* ticker.c: myservice's event source, a thread that sends the service a tick while wanted. */
#include <errno.h>
#include <time.h>

#include "ticker.h"

static struct timespec deadline_after(unsigned ms) {
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_sec += ms / 1000;
        t.tv_nsec += (long)(ms % 1000) * 1000000;
        if (t.tv_nsec >= 1000000000) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000;
        }
        return t;
}

/* Sleeps one period, less if stopped or paused meanwhile; called and returns with the lock held. */
static void ticker_sleep(struct ticker *t) {
        struct timespec deadline = deadline_after(t->period_ms);

        while (!t->stop && t->running && pthread_cond_timedwait(&t->changed, &t->lock, &deadline) != ETIMEDOUT)
                ;
}

static void *ticker_main(void *arg) {
        struct ticker *t = arg;

        pthread_mutex_lock(&t->lock);
        for (;;) {
                while (!t->stop && !t->running)
                        pthread_cond_wait(&t->changed, &t->lock);
                ticker_sleep(t);
                if (t->stop)
                        break;
                if (!t->running)
                        continue;
                /* A full queue loses the tick rather than stall this thread. */
                pthread_mutex_unlock(&t->lock);
                xous_try_send_scalar(t->conn, t->opcode, 0, 0, 0, 0);
                pthread_mutex_lock(&t->lock);
        }
        pthread_mutex_unlock(&t->lock);
        return NULL;
}

int ticker_start(struct ticker *t, xous_cid_t conn, uint32_t opcode, unsigned period_ms) {
        pthread_condattr_t attr;
        int r;

        *t = (struct ticker){ .conn = conn, .opcode = opcode, .period_ms = period_ms };
        pthread_mutex_init(&t->lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&t->changed, &attr);
        pthread_condattr_destroy(&attr);
        r = pthread_create(&t->thread, NULL, ticker_main, t);
        if (r != 0) {
                pthread_cond_destroy(&t->changed);
                pthread_mutex_destroy(&t->lock);
                return -r;
        }
        return 0;
}

void ticker_set_running(struct ticker *t, bool running) {
        pthread_mutex_lock(&t->lock);
        if (t->running != running) {
                t->running = running;
                pthread_cond_signal(&t->changed);
        }
        pthread_mutex_unlock(&t->lock);
}

void ticker_stop(struct ticker *t) {
        pthread_mutex_lock(&t->lock);
        t->stop = true;
        pthread_cond_signal(&t->changed);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
        pthread_cond_destroy(&t->changed);
        pthread_mutex_destroy(&t->lock);
}
