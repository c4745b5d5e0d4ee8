/* myservice.h: the caller-side library of myservice: one function per operation. */
#ifndef MYSERVICE_MYSERVICE_H
#define MYSERVICE_MYSERVICE_H

#include <stdint.h>
#include <xous/xous.h>

#include "api.h"

/*
 * A connection to myservice. Every instance counts: the last one freed
 * disconnects (the Xous book's refcounted Drop). Use one instance from one
 * thread at a time; create one per thread.
 */
struct myservice;

struct myservice *myservice_new(void);  /* waits until the service is registered; NULL on failure */
struct myservice *myservice_free(struct myservice *s);
void myservice_freep(struct myservice **s);
#define MYSERVICE_AUTO __attribute__((cleanup(myservice_freep)))

/* 1. Non-synchronizing. Texts are at most MYSERVICE_TEXT_MAX bytes. */
xous_error_t myservice_log_count(struct myservice *s, uint32_t n);
xous_error_t myservice_store(struct myservice *s, const char *text);
xous_error_t myservice_stats(struct myservice *s, uint32_t *count, uint32_t *stored_len);

/* 2. Synchronous. */
xous_error_t myservice_add(struct myservice *s, uint32_t a, uint32_t b, uint32_t *sum);
xous_error_t myservice_uppercase(struct myservice *s, char *text);
xous_error_t myservice_print(struct myservice *s, const char *text);

/* 3. Asynchronous: the service pushes OP_TICK to the server `listener`. */
xous_error_t myservice_subscribe(struct myservice *s, xous_sid_t listener);
xous_error_t myservice_unsubscribe(struct myservice *s, xous_sid_t listener); /* XOUS_ERR_NOT_FOUND if not subscribed */

/*
 * 4. Deferred response: returns once the service has seen n more ticks,
 * numbered first..last. One caller may wait at a time; while one does,
 * another fails with XOUS_ERR_INTERNAL_ERROR.
 */
xous_error_t myservice_wait_ticks(struct myservice *s, uint32_t n, uint32_t *first, uint32_t *last);

/* Asks the service to exit; returns once it has acknowledged. */
xous_error_t myservice_quit(struct myservice *s);

#endif
