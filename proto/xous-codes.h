/* xous-codes.h: Xous's error numbers and message kinds, the one list that
 * <xous/xous.h>, the wire layer and the daemon all take them from. Installed
 * beside xous.h; includes nothing. */
#ifndef XOUS_XOUS_CODES_H
#define XOUS_XOUS_CODES_H

/* X(number, NAME, "what it means"), for every error but 0 (no error); the
 * numbers are Xous's, unchanged. */
#define XOUS_FOREACH_ERROR(X) \
        X(1, BAD_ALIGNMENT, "bad alignment")                \
        X(2, BAD_ADDRESS, "bad address")                    \
        X(3, OUT_OF_MEMORY, "out of memory")                \
        X(4, MEMORY_IN_USE, "memory in use")                \
        X(5, INTERRUPT_NOT_FOUND, "interrupt not found")    \
        X(6, INTERRUPT_IN_USE, "interrupt in use")          \
        X(7, INVALID_STRING, "invalid string")              \
        X(8, SERVER_EXISTS, "server exists")                \
        X(9, SERVER_NOT_FOUND, "server not found")          \
        X(10, PROCESS_NOT_FOUND, "process not found")       \
        X(11, PROCESS_NOT_CHILD, "process not a child")     \
        X(12, PROCESS_TERMINATED, "process terminated")     \
        X(13, TIMEOUT, "timeout")                           \
        X(14, INTERNAL_ERROR, "internal error")             \
        X(15, SERVER_QUEUE_FULL, "server queue full")       \
        X(16, THREAD_NOT_AVAILABLE, "thread not available") \
        X(17, UNHANDLED_SYSCALL, "unhandled syscall")       \
        X(18, INVALID_SYSCALL, "invalid syscall")           \
        X(19, SHARE_VIOLATION, "share violation")           \
        X(20, INVALID_THREAD, "invalid thread")             \
        X(21, INVALID_PID, "invalid PID")                   \
        X(22, UNKNOWN_ERROR, "unspecified error")           \
        X(23, ACCESS_DENIED, "access denied")               \
        X(24, USE_BEFORE_INIT, "use before init")           \
        X(25, DOUBLE_FREE, "double free")                   \
        X(26, DEBUG_IN_PROGRESS, "debug in progress")       \
        X(27, INVALID_LIMIT, "invalid limit")               \
        X(28, NOT_FOUND, "not found")                       \
        X(29, INVALID_CODING, "invalid coding")             \
        X(30, HARDWARE_ERROR, "hardware error")             \
        X(31, SERIALIZATION_ERROR, "serialization error")   \
        X(32, INVALID_ARGUMENT, "invalid argument")         \
        X(33, NETWORK_ERROR, "network error")               \
        X(34, STORAGE_ERROR, "storage error")               \
        X(35, UNAVAILABLE, "xnsd unavailable")              \
        X(36, PARSE_ERROR, "parse error")                   \
        X(37, INVALID_CORE, "invalid core")                 \
        X(38, VERIFICATION_ERROR, "verification error")     \
        X(39, SECURITY_ERROR, "security error")

/* X(number, NAME): the envelope kinds, in Xous's order. */
#define XOUS_FOREACH_KIND(X)         \
        X(0, MUTABLE_BORROW)         \
        X(1, BORROW)                 \
        X(2, MOVE)                   \
        X(3, SCALAR)                 \
        X(4, BLOCKING_SCALAR)

#endif
