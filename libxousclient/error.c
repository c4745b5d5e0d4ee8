/* error.c: Xous error codes: their names for humans, and the mapping from errno. */
#include <errno.h>

#include "xous-internal.h"

static const char *const error_strings[] = {
        [XOUS_OK] = "no error",
        [XOUS_ERR_BAD_ALIGNMENT] = "bad alignment",
        [XOUS_ERR_BAD_ADDRESS] = "bad address",
        [XOUS_ERR_OUT_OF_MEMORY] = "out of memory",
        [XOUS_ERR_MEMORY_IN_USE] = "memory in use",
        [XOUS_ERR_INTERRUPT_NOT_FOUND] = "interrupt not found",
        [XOUS_ERR_INTERRUPT_IN_USE] = "interrupt in use",
        [XOUS_ERR_INVALID_STRING] = "invalid string",
        [XOUS_ERR_SERVER_EXISTS] = "server exists",
        [XOUS_ERR_SERVER_NOT_FOUND] = "server not found",
        [XOUS_ERR_PROCESS_NOT_FOUND] = "process not found",
        [XOUS_ERR_PROCESS_NOT_CHILD] = "process not a child",
        [XOUS_ERR_PROCESS_TERMINATED] = "process terminated",
        [XOUS_ERR_TIMEOUT] = "timeout",
        [XOUS_ERR_INTERNAL_ERROR] = "internal error",
        [XOUS_ERR_SERVER_QUEUE_FULL] = "server queue full",
        [XOUS_ERR_THREAD_NOT_AVAILABLE] = "thread not available",
        [XOUS_ERR_UNHANDLED_SYSCALL] = "unhandled syscall",
        [XOUS_ERR_INVALID_SYSCALL] = "invalid syscall",
        [XOUS_ERR_SHARE_VIOLATION] = "share violation",
        [XOUS_ERR_INVALID_THREAD] = "invalid thread",
        [XOUS_ERR_INVALID_PID] = "invalid PID",
        [XOUS_ERR_UNKNOWN_ERROR] = "unspecified error",
        [XOUS_ERR_ACCESS_DENIED] = "access denied",
        [XOUS_ERR_USE_BEFORE_INIT] = "use before init",
        [XOUS_ERR_DOUBLE_FREE] = "double free",
        [XOUS_ERR_DEBUG_IN_PROGRESS] = "debug in progress",
        [XOUS_ERR_INVALID_LIMIT] = "invalid limit",
        [XOUS_ERR_NOT_FOUND] = "not found",
        [XOUS_ERR_INVALID_CODING] = "invalid coding",
        [XOUS_ERR_HARDWARE_ERROR] = "hardware error",
        [XOUS_ERR_SERIALIZATION_ERROR] = "serialization error",
        [XOUS_ERR_INVALID_ARGUMENT] = "invalid argument",
        [XOUS_ERR_NETWORK_ERROR] = "network error",
        [XOUS_ERR_STORAGE_ERROR] = "storage error",
        [XOUS_ERR_UNAVAILABLE] = "xnsd unavailable",
        [XOUS_ERR_PARSE_ERROR] = "parse error",
        [XOUS_ERR_INVALID_CORE] = "invalid core",
        [XOUS_ERR_VERIFICATION_ERROR] = "verification error",
        [XOUS_ERR_SECURITY_ERROR] = "security error",
};

/* xous_strerror() - a short human description; never NULL. */
_public_ const char *xous_strerror(xous_error_t e) {
        if ((unsigned)e >= ELEMENTSOF(error_strings))
                return "unknown error";
        return error_strings[e];
}

static xous_error_t error_from_errno(int e) {
        switch (e) {
        case ENOMEM:
        case ENOBUFS:
        case EMFILE:
        case ENFILE:
                return XOUS_ERR_OUT_OF_MEMORY;
        case EINVAL:
                return XOUS_ERR_INVALID_ARGUMENT;
        case ENOENT:
        case ENOTDIR:
        case ENAMETOOLONG:
        case EACCES:
        case EPERM:
        case ECONNREFUSED:
        case ECONNRESET:
        case ECONNABORTED:
        case ENOTCONN:
        case EPIPE:
        case ESHUTDOWN:
        case EPROTOTYPE:
        case EAGAIN:
        case ETIMEDOUT:
                return XOUS_ERR_UNAVAILABLE;
        default:
                return XOUS_ERR_INTERNAL_ERROR;
        }
}

xous_error_t xous_error_from_result(int r) {
        if (r < 0)
                return error_from_errno(-r);
        if (r > XOUS_ERR_SECURITY_ERROR)
                return XOUS_ERR_UNKNOWN_ERROR;
        return (xous_error_t)r;
}
