/* api.h: what myservice and its callers share: the server's name and the opcodes. */
#ifndef MYSERVICE_API_H
#define MYSERVICE_API_H

#define SERVER_NAME_MYSERVICE "xns example: myservice, the four caller idioms"

/* Longest text in one memory message: it travels in one page. */
#define MYSERVICE_TEXT_MAX 4096

/* Opcodes of the service. Arguments are u32 words, as Xous recommends. */
enum myservice_opcode {
        /* 1. Non-synchronizing: the caller does not wait. */
        OP_LOG_COUNT,   /* Scalar (n): add n to the service's counter */
        OP_STORE,       /* Move: a page of text for the service to keep */
        OP_STATS,       /* BlockingScalar: answers (counter, length of the kept text) */

        /* 2. Synchronous: the caller waits for the answer. */
        OP_ADD,         /* BlockingScalar (a, b): answers a + b */
        OP_UPPERCASE,   /* MutableBorrow: uppercases the text in place, valid = its length */
        OP_PRINT,       /* Borrow: the service prints the text */

        /* 3. Asynchronous: the service pushes OP_TICK to the caller's own server. */
        OP_SUBSCRIBE,   /* Scalar (sid0, sid1, sid2, sid3): start pushing ticks to that server */
        OP_UNSUBSCRIBE, /* BlockingScalar (sid0..sid3): stop; answers 1 if it was subscribed */

        /* 4. Deferred response: the caller waits, the service does not. */
        OP_WAIT_TICKS,  /* BlockingScalar (n): answered after n more ticks with (first, last) */

        OP_QUIT,        /* BlockingScalar: the service acks with 1, then exits */

        OP_TIMER,       /* Scalar, internal: one tick from the service's own ticker thread */
};

/* Opcodes of a subscriber's server: what the service pushes to it. */
enum myservice_event {
        OP_TICK,        /* Scalar (tick number): tick numbers count up from 1 */
};

#endif
