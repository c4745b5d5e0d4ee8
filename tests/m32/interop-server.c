/* interop-server.c: the server side of the word-size interop test: answers
 * every message kind under INTEROP_NAME and pushes to a subscriber's SID,
 * so a client of the other word size can check every word and byte. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xous/xous.h>

#include "interop.h"

struct last_memory {
        uint32_t kind, len, offset, valid, hash;
};

struct last_subscribe {
        uint32_t errors, ping, mut_offset, mut_valid, mut_hash;
};

struct server_state {
        uint32_t messages;              /* before OP_QUIT */
        uint32_t errors;
        uint32_t scalars;
        uint32_t last_args[4];
        struct last_memory memory;
        struct last_subscribe subscribe;
        bool quit;
};

static void report(uint32_t *errors, const char *what, xous_error_t e) {
        fprintf(stderr, "interop-server: %s: %s\n", what, xous_strerror(e));
        (*errors)++;
}

static xous_msg_kind_t opcode_kind(uint32_t id) {
        switch (id) {
        case OP_SCALAR:
        case OP_SUBSCRIBE:
                return XOUS_MSG_SCALAR;
        case OP_MOVE:
                return XOUS_MSG_MOVE;
        case OP_BORROW:
                return XOUS_MSG_BORROW;
        case OP_MUT_BORROW:
                return XOUS_MSG_MUTABLE_BORROW;
        default:
                return XOUS_MSG_BLOCKING_SCALAR;
        }
}

static void serve_memory(struct server_state *st, xous_envelope_t *env) {
        void *data = xous_envelope_buf(env);
        size_t len = xous_envelope_buf_len(env);

        st->memory = (struct last_memory){
                .kind = xous_envelope_kind(env),
                .len = (uint32_t)len,
                .offset = xous_envelope_offset(env),
                .valid = xous_envelope_valid(env),
                .hash = data ? hash_bytes(data, len) : 0,
        };
        if (!data) {
                fprintf(stderr, "interop-server: memory message without memory\n");
                st->errors++;
                return;
        }
        if (xous_envelope_kind(env) == XOUS_MSG_MUTABLE_BORROW) {
                pattern_fill(data, len, SERVER_SEED);
                xous_envelope_set_offset_valid(env, st->memory.offset + 4096, ~st->memory.valid);
        }
}

/* Lends to the subscriber, both ways; what came back goes to *sub. */
static void push_lends(struct last_subscribe *sub, xous_cid_t cid) {
        XOUS_BUF_AUTO xous_buf_t *ro = xous_buf_new(2 * 4096);
        XOUS_BUF_AUTO xous_buf_t *rw = xous_buf_new(3 * 4096);
        uint32_t offset = 0xFFFFFFFFu, valid = 3 * 4096;
        xous_error_t e;

        if (!ro || !rw) {
                fprintf(stderr, "interop-server: xous_buf_new failed\n");
                sub->errors++;
                return;
        }
        pattern_fill(xous_buf_data(ro), xous_buf_len(ro), SERVER_SEED);
        e = xous_lend(cid, OP_PUSH_BORROW, ro, 7, 8000);
        if (e != XOUS_OK)
                report(&sub->errors, "lend to the subscriber", e);

        pattern_fill(xous_buf_data(rw), xous_buf_len(rw), SERVER_SEED);
        e = xous_lend_mut(cid, OP_PUSH_MUT_BORROW, rw, &offset, &valid);
        if (e != XOUS_OK)
                report(&sub->errors, "lend_mut to the subscriber", e);
        sub->mut_offset = offset;
        sub->mut_valid = valid;
        sub->mut_hash = hash_bytes(xous_buf_data(rw), xous_buf_len(rw));
}

/* OP_SUBSCRIBE: a SID in four scalar words; connect to it and push every kind but Move. */
static void serve_subscribe(struct server_state *st, const uint32_t a[4]) {
        const xous_sid_t sid = { .w = { a[0], a[1], a[2], a[3] } };
        struct last_subscribe *sub = &st->subscribe;
        xous_scalar_reply_t reply = { 0 };
        xous_cid_t cid;
        xous_error_t e;

        *sub = (struct last_subscribe){ 0 };
        e = xous_try_connect(sid, &cid);
        if (e != XOUS_OK) {
                report(&sub->errors, "try_connect to the subscriber", e);
                return;
        }
        e = xous_send_scalar(cid, OP_PUSH_TICK, a[3], a[2], a[1], a[0]);
        if (e != XOUS_OK)
                report(&sub->errors, "scalar to the subscriber", e);
        e = xous_blocking_scalar(cid, OP_PUSH_PING, 0xFFFFFFFFu, 0x80000001u, 0x12345678u, 0, &reply);
        if (e != XOUS_OK)
                report(&sub->errors, "blocking scalar to the subscriber", e);
        else
                sub->ping = reply.count == 1 ? reply.v[0] : 0;
        push_lends(sub, cid);
        e = xous_disconnect(cid);
        if (e != XOUS_OK)
                report(&sub->errors, "disconnect from the subscriber", e);
}

static void serve_blocking(struct server_state *st, xous_envelope_t *env) {
        const uint32_t *a = xous_envelope_args(env);
        const struct last_memory *m = &st->memory;
        const struct last_subscribe *s = &st->subscribe;
        xous_error_t e = XOUS_OK;

        switch (xous_envelope_id(env)) {
        case OP_ECHO1:
                e = xous_return_scalar(env, a[0] + a[1] + a[2] + a[3]);
                break;
        case OP_ECHO2:
                e = xous_return_scalar2(env, ~a[0], a[1] ^ a[2] ^ a[3]);
                break;
        case OP_ECHO5:
                e = xous_return_scalar5(env, (const uint32_t[5]){ a[3], a[2], a[1], a[0],
                                                                   xous_envelope_sender_pid(env) });
                break;
        case OP_DROP:
                break;
        case OP_LAST_SCALAR:
                e = xous_return_scalar5(env, (const uint32_t[5]){ st->scalars, st->last_args[0], st->last_args[1],
                                                                   st->last_args[2], st->last_args[3] });
                break;
        case OP_LAST_MEMORY:
                e = xous_return_scalar5(env, (const uint32_t[5]){ m->kind, m->len, m->offset, m->valid, m->hash });
                break;
        case OP_LAST_SUBSCRIBE:
                e = xous_return_scalar5(env, (const uint32_t[5]){ s->errors, s->ping, s->mut_offset,
                                                                   s->mut_valid, s->mut_hash });
                break;
        case OP_QUIT:
                e = xous_return_scalar2(env, st->messages, st->errors);
                st->quit = true;
                break;
        default:
                fprintf(stderr, "interop-server: unknown opcode %u\n", xous_envelope_id(env));
                st->errors++;
                break;
        }
        if (e != XOUS_OK)
                report(&st->errors, "answer", e);
}

static void serve(struct server_state *st, xous_envelope_t *env) {
        uint32_t id = xous_envelope_id(env);

        if (id != OP_QUIT)
                st->messages++;
        if (xous_envelope_kind(env) != opcode_kind(id)) {
                fprintf(stderr, "interop-server: opcode %u came as kind %d\n", id, (int)xous_envelope_kind(env));
                st->errors++;
                return;
        }
        switch (id) {
        case OP_SCALAR:
                st->scalars++;
                memcpy(st->last_args, xous_envelope_args(env), sizeof(st->last_args));
                break;
        case OP_SUBSCRIBE:
                serve_subscribe(st, xous_envelope_args(env));
                break;
        case OP_MOVE:
        case OP_BORROW:
        case OP_MUT_BORROW:
                serve_memory(st, env);
                break;
        default:
                serve_blocking(st, env);
                break;
        }
}

int main(void) {
        struct server_state st = { 0 };
        xous_envelope_t *env = NULL;
        xous_sid_t sid;
        xous_error_t e;

        e = xous_register_name(INTEROP_NAME, 0, &sid);
        if (e != XOUS_OK) {
                fprintf(stderr, "interop-server: register %s: %s\n", INTEROP_NAME, xous_strerror(e));
                return 1;
        }
        printf("interop-server: %zu-bit, serving %s\n", sizeof(void *) * 8, INTEROP_NAME);
        fflush(stdout);

        while (!st.quit) {
                e = xous_reply_and_receive_next(sid, &env);
                if (e != XOUS_OK) {
                        fprintf(stderr, "interop-server: receive: %s\n", xous_strerror(e));
                        return 1;
                }
                serve(&st, env);
        }
        xous_envelope_drop(env);        /* answers OP_QUIT */
        e = xous_unregister_server(sid);
        if (e != XOUS_OK)
                report(&st.errors, "unregister", e);
        printf("interop-server: %u messages, %u errors\n", st.messages, st.errors);
        return st.errors == 0 ? 0 : 1;
}
