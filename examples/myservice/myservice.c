/* myservice.c: the caller-side library of myservice: turns calls into Xous messages. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "myservice.h"

struct myservice {
        xous_cid_t conn;
        xous_buf_t *page;       /* lent for every Borrow, created once */
};

/* Instances alive in this process; they all share one connection. */
static atomic_uint refcount;

struct myservice *myservice_new(void) {
        struct myservice *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->page = xous_buf_new(MYSERVICE_TEXT_MAX);
        if (!s->page) {
                free(s);
                return NULL;
        }
        atomic_fetch_add(&refcount, 1);
        if (xous_request_connection_blocking(SERVER_NAME_MYSERVICE, &s->conn) != XOUS_OK) {
                atomic_fetch_sub(&refcount, 1);
                xous_buf_free(s->page);
                free(s);
                return NULL;
        }
        return s;
}

/* Dropping the final instance disconnects. */
struct myservice *myservice_free(struct myservice *s) {
        if (!s)
                return NULL;
        if (atomic_fetch_sub(&refcount, 1) == 1)
                xous_disconnect(s->conn);
        xous_buf_free(s->page);
        free(s);
        return NULL;
}

void myservice_freep(struct myservice **s) {
        *s = myservice_free(*s);
}

/* Copies text into the instance's page, for a lend. */
static xous_error_t page_fill(struct myservice *s, const char *text, uint32_t *len) {
        size_t n = strlen(text);

        if (n > MYSERVICE_TEXT_MAX)
                return XOUS_ERR_INVALID_ARGUMENT;
        memcpy(xous_buf_data(s->page), text, n);
        *len = n;
        return XOUS_OK;
}

static xous_error_t blocking_call(struct myservice *s, uint32_t op, uint32_t a1, uint32_t a2,
                                  uint32_t a3, uint32_t a4, uint32_t words, xous_scalar_reply_t *reply) {
        xous_error_t e = xous_blocking_scalar(s->conn, op, a1, a2, a3, a4, reply);

        if (e == XOUS_OK && reply->count != words)
                return XOUS_ERR_INTERNAL_ERROR;
        return e;
}

xous_error_t myservice_log_count(struct myservice *s, uint32_t n) {
        return xous_send_scalar(s->conn, OP_LOG_COUNT, n, 0, 0, 0);
}

/* A Move gives its pages away, so it takes a buffer of its own. */
xous_error_t myservice_store(struct myservice *s, const char *text) {
        size_t len = strlen(text);
        xous_buf_t *buf;
        xous_error_t e;

        if (len > MYSERVICE_TEXT_MAX)
                return XOUS_ERR_INVALID_ARGUMENT;
        buf = xous_buf_new(MYSERVICE_TEXT_MAX);
        if (!buf)
                return XOUS_ERR_OUT_OF_MEMORY;
        memcpy(xous_buf_data(buf), text, len);
        e = xous_send(s->conn, OP_STORE, buf, 0, len);
        if (e != XOUS_OK)
                xous_buf_free(buf);
        return e;
}

xous_error_t myservice_stats(struct myservice *s, uint32_t *count, uint32_t *stored_len) {
        xous_scalar_reply_t reply;
        xous_error_t e = blocking_call(s, OP_STATS, 0, 0, 0, 0, 2, &reply);

        if (e != XOUS_OK)
                return e;
        *count = reply.v[0];
        *stored_len = reply.v[1];
        return XOUS_OK;
}

xous_error_t myservice_add(struct myservice *s, uint32_t a, uint32_t b, uint32_t *sum) {
        xous_scalar_reply_t reply;
        xous_error_t e = blocking_call(s, OP_ADD, a, b, 0, 0, 1, &reply);

        if (e != XOUS_OK)
                return e;
        *sum = reply.v[0];
        return XOUS_OK;
}

/* The text comes back as the service left it: its first `valid` bytes. */
xous_error_t myservice_uppercase(struct myservice *s, char *text) {
        uint32_t offset = 0, len, valid;
        xous_error_t e = page_fill(s, text, &len);

        if (e != XOUS_OK)
                return e;
        valid = len;
        e = xous_lend_mut(s->conn, OP_UPPERCASE, s->page, &offset, &valid);
        if (e != XOUS_OK)
                return e;
        if (offset != 0 || valid > len)
                return XOUS_ERR_INTERNAL_ERROR;
        memcpy(text, xous_buf_data(s->page), valid);
        text[valid] = '\0';
        return XOUS_OK;
}

xous_error_t myservice_print(struct myservice *s, const char *text) {
        uint32_t len;
        xous_error_t e = page_fill(s, text, &len);

        if (e != XOUS_OK)
                return e;
        return xous_lend(s->conn, OP_PRINT, s->page, 0, len);
}

xous_error_t myservice_subscribe(struct myservice *s, xous_sid_t listener) {
        return xous_send_scalar(s->conn, OP_SUBSCRIBE, listener.w[0], listener.w[1], listener.w[2], listener.w[3]);
}

xous_error_t myservice_unsubscribe(struct myservice *s, xous_sid_t listener) {
        xous_scalar_reply_t reply;
        xous_error_t e = blocking_call(s, OP_UNSUBSCRIBE, listener.w[0], listener.w[1], listener.w[2],
                                       listener.w[3], 1, &reply);

        if (e != XOUS_OK)
                return e;
        return reply.v[0] == 1 ? XOUS_OK : XOUS_ERR_NOT_FOUND;
}

xous_error_t myservice_wait_ticks(struct myservice *s, uint32_t n, uint32_t *first, uint32_t *last) {
        xous_scalar_reply_t reply;
        xous_error_t e = blocking_call(s, OP_WAIT_TICKS, n, 0, 0, 0, 2, &reply);

        if (e != XOUS_OK)
                return e;
        *first = reply.v[0];
        *last = reply.v[1];
        return XOUS_OK;
}

xous_error_t myservice_quit(struct myservice *s) {
        xous_scalar_reply_t reply;
        xous_error_t e = blocking_call(s, OP_QUIT, 0, 0, 0, 0, 1, &reply);

        if (e != XOUS_OK)
                return e;
        return reply.v[0] == 1 ? XOUS_OK : XOUS_ERR_INTERNAL_ERROR;
}
