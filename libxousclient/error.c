/* error.c: Xous error codes: their names for humans, and the mapping from errno. */
#include <errno.h>

#include "xous-internal.h"

#define ERROR_STRING(n, name, text) [n] = text,
static const char *const error_strings[] = {
        [XOUS_OK] = "no error",
        XOUS_FOREACH_ERROR(ERROR_STRING)
};
#undef ERROR_STRING

/* xous_strerror() - a short human description; never NULL. */
_public_ const char *xous_strerror(xous_error_t e) {
        if ((unsigned)e >= ELEMENTSOF(error_strings))
                return "unknown error";
        return error_strings[e];
}

/* A local failure (a negative errno) as the caller sees it: the daemon's
 * socket missing, refused or gone is UNAVAILABLE. */
static xous_error_t error_from_errno(int r) {
        switch (r) {
        case -ENOMEM:
        case -ENOBUFS:
        case -EMFILE:
        case -ENFILE:
                return XOUS_ERR_OUT_OF_MEMORY;
        case -EINVAL:
                return XOUS_ERR_INVALID_ARGUMENT;
        case -ENOENT:
        case -ENOTDIR:
        case -ENAMETOOLONG:
        case -EACCES:
        case -EPERM:
        case -ECONNREFUSED:
        case -ECONNRESET:
        case -ECONNABORTED:
        case -ENOTCONN:
        case -EPIPE:
        case -ESHUTDOWN:
        case -EPROTOTYPE:
        case -EAGAIN:
        case -ETIMEDOUT:
                return XOUS_ERR_UNAVAILABLE;
        default:
                return XOUS_ERR_INTERNAL_ERROR;
        }
}

xous_error_t xous_error_from_result(int r) {
        if (r < 0)
                return error_from_errno(r);
        if ((unsigned)r >= ELEMENTSOF(error_strings))
                return XOUS_ERR_UNKNOWN_ERROR;
        return (xous_error_t)r;
}
