/* frame.h: the frames gateways send each other over NATS (proto/cluster.proto),
 * as plain C structs, with checked decoding of untrusted bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

#define FRAME_HOST_MAX 32               /* [A-Za-z0-9_-], a NATS subject token */
#define FRAME_DATA_MAX (64u << 20)      /* memory payload of a call or an answer */

enum frame_type {
        FRAME_HEARTBEAT,                /* subject xns.hb.<host> */
        FRAME_CALL,                     /* the others: xns.<to>.<from>.<type> */
        FRAME_ANSWER,
        FRAME_GRANT,
        FRAME_GRANTED,
        FRAME_GONE,
        FRAME_PROBE,
        FRAME_PROBED,
        _FRAME_TYPE_MAX,
};

struct frame_heartbeat {
        char host[FRAME_HOST_MAX + 1];
        uint64_t epoch;
        uint32_t tag;                   /* w0 of the SIDs of that host's xnsd */
};

struct frame_call {
        uint64_t epoch, call;           /* the caller's gateway, its call number */
        struct xns_sid sid;
        uint32_t pid, uid;              /* the caller process, as its host says */
        uint32_t kind, id;
        uint32_t a[4];
        uint32_t len, offset, valid;
        const uint8_t *data;            /* memory kinds: len bytes; decoded: points into the frame */
        size_t data_len;
};

#define FRAME_QUEUED_MAX 96             /* calls acknowledged together in one Answer */

struct frame_answer {
        uint64_t epoch, call;           /* call 0: only the queued ones */
        uint32_t error;                 /* xous_error_t, 0 = answered */
        uint32_t count;                 /* scalar reply words 0, 1, 2 or 5 */
        uint32_t v[5];
        uint32_t offset, valid;
        const uint8_t *data;            /* MutableBorrow: the pages the server changed, */
        size_t data_len;
        uint32_t data_at;               /* from here on (the others: as lent) */
        uint32_t n_queued;              /* Scalars and Moves of epoch now in their server's queue */
        uint64_t queued[FRAME_QUEUED_MAX];
};

struct frame_grant {
        uint64_t call;
        struct xns_name name;           /* len 0: by sid */
        struct xns_sid sid;
        uint32_t pid, uid;
};

struct frame_granted {
        uint64_t call;
        uint32_t error;
        struct xns_sid sid;
};

struct frame_gone {
        uint32_t pid;                   /* 0, or a caller process of the sending host that is gone */
        struct xns_sid sid;             /* all zero, or a server of the sending host that is gone */
};

/* Is call still there? (after a reconnect); resync: probe mine too. */
struct frame_probe {
        uint64_t epoch, call;
        bool resync;
};

struct frame_probed {
        uint64_t epoch, call;
        bool known;
};

struct frame {
        enum frame_type type;
        union {
                struct frame_heartbeat hb;
                struct frame_call call;
                struct frame_answer answer;
                struct frame_grant grant;
                struct frame_granted granted;
                struct frame_gone gone;
                struct frame_probe probe;
                struct frame_probed probed;
        };
};

/* The subject token of a type ("call"), and back (-EINVAL when unknown). */
const char *frame_type_name(enum frame_type type);
int frame_type_from_name(const char *s, enum frame_type *type);

/* Encodes into a malloc'd buffer (*out, *len); 0 or negative errno. */
int frame_encode(const struct frame *f, uint8_t **out, size_t *len);
/* Decodes untrusted bytes: 0, or -EBADMSG. Data pointers point into *buf,
 * which must outlive f. Every field range is checked (kind, count <= 5,
 * data_len == len for calls of memory kinds, names valid UTF-8 ...). */
int frame_decode(struct frame *f, enum frame_type type, const uint8_t *buf, size_t len);
/* The same through protobuf-c alone (frame_decode() reads calls and
 * answers itself): fuzz-frame holds the two to one result. */
int frame_decode_generic(struct frame *f, enum frame_type type, const uint8_t *buf, size_t len);

bool frame_host_valid(const char *s);

/* The value of a name in the registry bucket (NameEntry); the name itself
 * is the key. */
struct frame_name_entry {
        char host[FRAME_HOST_MAX + 1];
        struct xns_sid sid;
        uint32_t max_conns;
        uint64_t epoch;
};

/* As frame_encode/frame_decode, for a registry value. */
int frame_name_entry_encode(const struct frame_name_entry *e, uint8_t **out, size_t *len);
int frame_name_entry_decode(struct frame_name_entry *e, const uint8_t *buf, size_t len);
