"""myservice_api: what myservice and its callers share, in Python: the server's
name and the opcodes of myservice/api.h (tests/python checks they match)."""

SERVER_NAME = "xns example: myservice, the four caller idioms"

# Longest text in one memory message: it travels in one page.
TEXT_MAX = 4096

# Opcodes of the service, in api.h's order. Arguments are u32 words.
(
    OP_LOG_COUNT,       # Scalar (n): add n to the service's counter
    OP_STORE,           # Move: a page of text for the service to keep
    OP_STATS,           # BlockingScalar: answers (counter, length of the kept text)
    OP_ADD,             # BlockingScalar (a, b): answers a + b
    OP_UPPERCASE,       # MutableBorrow: uppercases the text in place, valid = its length
    OP_PRINT,           # Borrow: the service prints the text
    OP_SUBSCRIBE,       # Scalar (sid0..sid3): start pushing ticks to that server
    OP_UNSUBSCRIBE,     # BlockingScalar (sid0..sid3): stop; answers 1 if it was subscribed
    OP_WAIT_TICKS,      # BlockingScalar (n): answered after n more ticks with (first, last)
    OP_QUIT,            # BlockingScalar: the service acks with 1, then exits
    OP_TIMER,           # Scalar, internal: one tick from the service's own ticker thread
) = range(11)

# Opcodes of a subscriber's server: what the service pushes to it.
OP_TICK = 0             # Scalar (tick number): tick numbers count up from 1
