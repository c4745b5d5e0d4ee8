/* envelope.c: a received message: its fields, its answer, forwarding, and return-on-drop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "xous-internal.h"

/* Ends this process's access to the message's memory. */
void envelope_unmap(xous_envelope_t *env) {
        if (env->given)
                return given_unmap(env);
        if (env->data)
                munmap(env->data, env->len);
        env->data = NULL;
        env->fd = safe_close(env->fd);
}

xous_envelope_t *envelope_free(xous_envelope_t *env) {
        if (env) {
                envelope_unmap(env);
                free(env);
        }
        return NULL;
}

/*
 * envelope_build_return() - the RETURN that dropping env must send, if any.
 *
 * Nothing for kinds that need no answer, for a forwarded message, and for
 * one received in another session (before a fork() or a daemon restart):
 * that caller is not ours to answer.
 */
bool envelope_build_return(const xous_envelope_t *env, struct xns_return *ret) {
        if (env->handle == 0 || env->finished || !xns_kind_blocks(env->kind) ||
            env->generation != session_generation())
                return false;
        *ret = (struct xns_return){ .handle = env->handle, .gen = env->gen };
        if (env->kind != XOUS_MSG_BLOCKING_SCALAR) {
                ret->how = XNS_RETURN_MEMORY;
                ret->offset = env->offset;
                ret->valid = env->valid;
        } else if (env->answered) {
                ret->how = XNS_RETURN_SCALAR;
                ret->count = env->count;
                memcpy(ret->v, env->v, sizeof(ret->v));
        } else {
                ret->how = XNS_RETURN_DROPPED;
        }
        return true;
}

/*
 * xous_envelope_drop() - return-on-Drop.
 *
 * The memory is unmapped before the answer leaves, so the server's access
 * has ended by the time its caller runs again.
 */
_public_ void xous_envelope_drop(xous_envelope_t *env) {
        struct xns_request req = { .op = XNS_OP_RETURN };
        bool answer;

        if (!env)
                return;
        answer = envelope_build_return(env, &req.ret);
        envelope_free(env);
        if (answer)
                (void)xns_post(&req, -1);
}

_public_ void xous_envelope_dropp(xous_envelope_t **env) {
        if (env && *env) {
                xous_envelope_drop(*env);
                *env = NULL;
        }
}

/* NULL reads as a Scalar: the kind that carries nothing and wants no answer. */
_public_ xous_msg_kind_t xous_envelope_kind(const xous_envelope_t *env) {
        return env ? env->kind : XOUS_MSG_SCALAR;
}

_public_ uint32_t xous_envelope_id(const xous_envelope_t *env) {
        return env ? env->id : 0;
}

_public_ const uint32_t *xous_envelope_args(const xous_envelope_t *env) {
        static const uint32_t none[4];

        return env ? env->args : none;
}

_public_ void *xous_envelope_buf(xous_envelope_t *env) {
        return env ? env->data : NULL;
}

_public_ size_t xous_envelope_buf_len(const xous_envelope_t *env) {
        return env && env->data ? env->len : 0;
}

_public_ uint32_t xous_envelope_offset(const xous_envelope_t *env) {
        return env ? env->offset : 0;
}

_public_ uint32_t xous_envelope_valid(const xous_envelope_t *env) {
        return env ? env->valid : 0;
}

/* xous_envelope_set_offset_valid() - the numbers a lend returns with. */
_public_ void xous_envelope_set_offset_valid(xous_envelope_t *env, uint32_t offset, uint32_t valid) {
        if (!env)
                return;
        env->offset = offset;
        env->valid = valid;
}

_public_ uint32_t xous_envelope_sender_pid(const xous_envelope_t *env) {
        return env ? env->sender_pid : 0;
}

static xous_error_t envelope_answer(xous_envelope_t *env, uint32_t count, const uint32_t *v) {
        if (!env)
                return XOUS_ERR_INVALID_ARGUMENT;
        if (env->kind != XOUS_MSG_BLOCKING_SCALAR || env->answered || env->finished)
                return XOUS_ERR_DOUBLE_FREE;
        env->answered = true;
        env->count = count;
        memset(env->v, 0, sizeof(env->v));
        memcpy(env->v, v, count * sizeof(uint32_t));
        return XOUS_OK;
}

/* xous_return_scalar() - answer a BlockingScalar with one word; sent on drop. */
_public_ xous_error_t xous_return_scalar(xous_envelope_t *env, uint32_t v) {
        return envelope_answer(env, 1, &v);
}

_public_ xous_error_t xous_return_scalar2(xous_envelope_t *env, uint32_t v1, uint32_t v2) {
        const uint32_t v[2] = { v1, v2 };

        return envelope_answer(env, 2, v);
}

_public_ xous_error_t xous_return_scalar5(xous_envelope_t *env, const uint32_t v[5]) {
        if (!v)
                return XOUS_ERR_INVALID_ARGUMENT;
        return envelope_answer(env, 5, v);
}

/* A message whose caller waits: the daemon re-routes it, answer and all. */
static int forward_handle(xous_envelope_t *env, xous_cid_t cid, uint32_t id) {
        struct xns_request req = {
                .op = XNS_OP_FORWARD,
                .forward = { .handle = env->handle, .gen = env->gen, .cid = cid, .id = id },
        };
        struct xns_reply reply;

        if (env->generation != session_generation())
                return XOUS_ERR_ACCESS_DENIED;
        return xns_call(&req, env->fd, &reply, NULL);
}

/* A Scalar or a Move has no caller waiting: forwarding is sending it anew. */
static int forward_as_send(xous_envelope_t *env, xous_cid_t cid, uint32_t id) {
        struct xns_request req = {
                .op = XNS_OP_SEND,
                .send = {
                        .cid = cid, .kind = env->kind, .id = id,
                        .a = { env->args[0], env->args[1], env->args[2], env->args[3] },
                        .len = (uint32_t)env->len, .offset = env->offset, .valid = env->valid,
                },
        };

        return send_nonblocking(&req, env->fd);
}

/*
 * xous_forward() - pass the message on to cid under a new opcode.
 *
 * On XOUS_OK the message is no longer this server's: its memory is unmapped
 * now and the drop sends nothing. On an error the envelope is unchanged.
 */
_public_ xous_error_t xous_forward(xous_envelope_t *env, xous_cid_t cid, uint32_t new_id) {
        int r;

        if (!env)
                return XOUS_ERR_INVALID_ARGUMENT;
        if (env->finished || env->answered)
                return XOUS_ERR_DOUBLE_FREE;
        if (xns_kind_blocks(env->kind))
                r = forward_handle(env, cid, new_id);
        else
                r = forward_as_send(env, cid, new_id);
        if (r == 0) {
                env->finished = true;
                envelope_unmap(env);
        }
        return xous_error_from_result(r);
}
