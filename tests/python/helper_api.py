"""helper_api: the opcodes of helper_server.py, which the tests call."""
import enum


class Op(enum.IntEnum):
    REPLY1 = 1          # BlockingScalar (a, b): answers (a + b,)
    REPLY2 = 2          # BlockingScalar (a, b): answers (b, a)
    REPLY5 = 3          # BlockingScalar (a, b, c, d): answers (a, b, c, d, a + b + c + d)
    COUNT = 4           # Scalar (n): adds n to a counter
    GET_COUNT = 5       # BlockingScalar: answers (counter,)
    STORE = 6           # Move: keeps the valid bytes
    GET_STORED = 7      # BlockingScalar: answers (length, crc32) of the kept bytes
    BORROW = 8          # Borrow: remembers the valid bytes' crc32 and whether writing them failed
    GET_BORROW = 9      # BlockingScalar: answers (crc32, 1 if the write raised TypeError, buffer length, 0, 0)
    UPPER = 10          # MutableBorrow: uppercases the valid bytes, returns offset + 1, valid - 1
    HOLD = 11           # any kind: parked, never answered until RELEASE; prints "held KIND"
    RELEASE = 12        # BlockingScalar: drops the parked envelopes, answers (how many,)
    UNANSWERED = 13     # BlockingScalar: dropped without an answer
    QUIT = 14           # BlockingScalar: answers (1,) and exits
