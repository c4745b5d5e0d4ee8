/* xous.h: Xous-style IPC between Linux processes, the libxousclient API. */
#ifndef XOUS_XOUS_H
#define XOUS_XOUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xous/xous-codes.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Every call may be made from any thread. The library talks to xnsd over one
 * Unix socket per calling thread (opened on first use), found through
 * $XOUS_SOCKET, else /run/xns/xns.sock. After fork() the child starts with no
 * connections and its own daemon link.
 */

typedef uint32_t xous_cid_t;                            /* per process, valid in all its threads */
typedef struct xous_sid { uint32_t w[4]; } xous_sid_t;  /* 128-bit, random */

/* Xous's error numbers, unchanged. */
#define XOUS_ERROR_ENUM_(n, name, text) XOUS_ERR_##name = n,
typedef enum xous_error {
        XOUS_OK = 0,
        XOUS_FOREACH_ERROR(XOUS_ERROR_ENUM_)    /* XOUS_ERR_BAD_ALIGNMENT = 1, ... (xous-codes.h) */
} xous_error_t;
#undef XOUS_ERROR_ENUM_

/* Envelope kinds, in Xous's order. */
#define XOUS_KIND_ENUM_(n, name) XOUS_MSG_##name = n,
typedef enum xous_msg_kind {
        XOUS_FOREACH_KIND(XOUS_KIND_ENUM_)      /* XOUS_MSG_MUTABLE_BORROW = 0, ... (xous-codes.h) */
} xous_msg_kind_t;
#undef XOUS_KIND_ENUM_

typedef struct xous_buf xous_buf_t;
typedef struct xous_envelope xous_envelope_t;
typedef struct xous_scalar_reply { uint32_t count; uint32_t v[5]; } xous_scalar_reply_t; /* count 1, 2 or 5 */

/* Longest server name, in bytes of UTF-8 (Xous: a 64-byte buffer, `< 64`). */
#define XOUS_NAME_MAX 63

const char *xous_strerror(xous_error_t e);

/*
 * Names and servers.
 *
 * xous_register_name() creates a server with a fresh random SID under a
 * unique name. max_conns caps how many connections request_connection may
 * ever hand out for the name (0 = unlimited); every grant counts, even a
 * repeat from the same process. Once full, both request calls answer
 * XOUS_ERR_ACCESS_DENIED. xous_unregister_server() removes the name and
 * destroys the server. xous_trusted_init_done() is true when every limited
 * name is full.
 */
xous_error_t xous_register_name(const char *name, uint32_t max_conns, xous_sid_t *sid);
xous_error_t xous_unregister_server(xous_sid_t sid);
xous_error_t xous_request_connection(const char *name, xous_cid_t *cid);
xous_error_t xous_request_connection_blocking(const char *name, xous_cid_t *cid);
xous_error_t xous_trusted_init_done(bool *done);
xous_error_t xous_create_server(xous_sid_t *sid);
/* Fails with XOUS_ERR_SERVER_QUEUE_FULL while a received message is unanswered. */
xous_error_t xous_destroy_server(xous_sid_t sid);
xous_error_t xous_connect(xous_sid_t sid, xous_cid_t *cid);     /* waits until the server exists */
xous_error_t xous_try_connect(xous_sid_t sid, xous_cid_t *cid);
xous_error_t xous_disconnect(xous_cid_t cid);

/*
 * Buffers for memory messages: shared memory (a sealed memfd), whole pages,
 * page-aligned, zeroed. Create once and reuse: a lend copies nothing and
 * costs the same at every size.
 */
xous_buf_t *xous_buf_new(size_t len);   /* NULL on failure (errno set) */
void *xous_buf_data(xous_buf_t *buf);
size_t xous_buf_len(const xous_buf_t *buf);
void xous_buf_free(xous_buf_t *buf);    /* NULL is fine; a busy buffer too */
/* A lend of buf timed out and its server has not given it back yet: until
 * then lending or sending it answers XOUS_ERR_MEMORY_IN_USE, and its bytes
 * are the server's (do not touch them). */
bool xous_buf_busy(const xous_buf_t *buf);
void xous_buf_freep(xous_buf_t **buf);
#define XOUS_BUF_AUTO __attribute__((cleanup(xous_buf_freep)))

/*
 * Sending. Scalar and Move are non-synchronizing: they return once the
 * message is on its way, and wait only while the server's queue is full
 * (the try_ variant answers XOUS_ERR_SERVER_QUEUE_FULL instead). Messages
 * from one thread to one server arrive in the order sent.
 *
 * xous_send() (Move) hands buf to the server: on XOUS_OK the buffer is
 * consumed (freed here, the pages now the server's); on an error it is still
 * the caller's.
 *
 * xous_blocking_scalar(), xous_lend() and xous_lend_mut() wait for the answer.
 * They fail with XOUS_ERR_SERVER_NOT_FOUND when the server goes away (is
 * destroyed or its process dies) before answering, and with
 * XOUS_ERR_INTERNAL_ERROR when the server drops a BlockingScalar without
 * answering it. The caller's buffer is always left intact and its own.
 *
 * The _timeout variants give up after timeout_ms (0: at once; UINT32_MAX:
 * never) with XOUS_ERR_TIMEOUT. The message stays with the server, who is
 * not told: to it the caller went away, and its answer goes nowhere. After
 * a lend timed out the buffer stays lent (xous_buf_busy()) until the server
 * drops the envelope or goes away.
 */
xous_error_t xous_send_scalar(xous_cid_t cid, uint32_t id, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4);
xous_error_t xous_try_send_scalar(xous_cid_t cid, uint32_t id, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4);
xous_error_t xous_blocking_scalar(xous_cid_t cid, uint32_t id, uint32_t a1, uint32_t a2, uint32_t a3,
                                  uint32_t a4, xous_scalar_reply_t *reply);
xous_error_t xous_send(xous_cid_t cid, uint32_t id, xous_buf_t *buf, uint32_t offset, uint32_t valid);
xous_error_t xous_lend(xous_cid_t cid, uint32_t id, xous_buf_t *buf, uint32_t offset, uint32_t valid);
xous_error_t xous_lend_mut(xous_cid_t cid, uint32_t id, xous_buf_t *buf, uint32_t *offset, uint32_t *valid);
xous_error_t xous_blocking_scalar_timeout(xous_cid_t cid, uint32_t id, uint32_t a1, uint32_t a2, uint32_t a3,
                                          uint32_t a4, xous_scalar_reply_t *reply, uint32_t timeout_ms);
xous_error_t xous_lend_timeout(xous_cid_t cid, uint32_t id, xous_buf_t *buf, uint32_t offset, uint32_t valid,
                               uint32_t timeout_ms);
xous_error_t xous_lend_mut_timeout(xous_cid_t cid, uint32_t id, xous_buf_t *buf, uint32_t *offset,
                                   uint32_t *valid, uint32_t timeout_ms);

/*
 * Receiving. xous_receive_message() blocks (no CPU) until a message arrives
 * for a server this process created. Every envelope ends in
 * xous_envelope_drop() exactly once: that is Xous's return-on-Drop. Dropping
 * a memory message returns it to its caller (for MutableBorrow with the
 * server's offset/valid); dropping an answered BlockingScalar delivers the
 * answer. Keep an envelope instead of dropping it and you have a deferred
 * response: the caller stays blocked while the server goes on serving.
 */
xous_error_t xous_receive_message(xous_sid_t sid, xous_envelope_t **env);
/* Waits timeout_ms at most (0: only what is there; UINT32_MAX: forever): XOUS_ERR_TIMEOUT, *env NULL. */
xous_error_t xous_receive_message_timeout(xous_sid_t sid, xous_envelope_t **env, uint32_t timeout_ms);
xous_error_t xous_try_receive_message(xous_sid_t sid, xous_envelope_t **env); /* OK with *env = NULL if none */
xous_error_t xous_reply_and_receive_next(xous_sid_t sid, xous_envelope_t **env); /* drops *env if set, waits for next */
/* An fd that polls readable (POLLIN) while a message for this server waits to be received:
 * put it in any loop, then take messages with xous_try_receive_message() until *env is NULL.
 * Owned by the library; valid until the server is destroyed; level-triggered. */
xous_error_t xous_server_get_fd(xous_sid_t sid, int *fd);
xous_msg_kind_t xous_envelope_kind(const xous_envelope_t *env);
uint32_t xous_envelope_id(const xous_envelope_t *env);
const uint32_t *xous_envelope_args(const xous_envelope_t *env);   /* 4 words */
void *xous_envelope_buf(xous_envelope_t *env);                    /* read-only mapping for Borrow */
size_t xous_envelope_buf_len(const xous_envelope_t *env);
uint32_t xous_envelope_offset(const xous_envelope_t *env);
uint32_t xous_envelope_valid(const xous_envelope_t *env);
void xous_envelope_set_offset_valid(xous_envelope_t *env, uint32_t offset, uint32_t valid);
uint32_t xous_envelope_sender_pid(const xous_envelope_t *env);
/* Record the answer to a BlockingScalar; the drop sends it. A second answer,
 * or an answer to another kind, is XOUS_ERR_DOUBLE_FREE. */
xous_error_t xous_return_scalar(xous_envelope_t *env, uint32_t v);
xous_error_t xous_return_scalar2(xous_envelope_t *env, uint32_t v1, uint32_t v2);
xous_error_t xous_return_scalar5(xous_envelope_t *env, const uint32_t v[5]);
/* Pass the message on to another server under a new opcode; its answer goes
 * to the original caller. The envelope must still be dropped. */
xous_error_t xous_forward(xous_envelope_t *env, xous_cid_t cid, uint32_t new_id);
void xous_envelope_drop(xous_envelope_t *env);    /* every envelope ends here exactly once; NULL is fine */
void xous_envelope_dropp(xous_envelope_t **env);
#define XOUS_ENVELOPE_AUTO __attribute__((cleanup(xous_envelope_dropp)))

#ifdef __cplusplus
}
#endif

#endif
