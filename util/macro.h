/* macro.h: scope-bound cleanup and ownership helpers shared by every part of xns. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Defines fnp(type **p) that calls fn(*p), for use with _cleanup_. */
#define DEFINE_CLEANUP(type, fn)                \
        static inline void fn##p(type *p) {     \
                if (*p)                         \
                        fn(*p);                 \
        }

/* Hands a pointer or descriptor on, leaving the variable empty. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}

static inline void freep(void *p) {
        free(*(void **)p);
}

/* Copies string src into array dst, cut to fit: snprintf's "%s" without
 * its cost, for copies on every message. */
#define STR_COPY(dst, src) str_copy_n((dst), sizeof(dst), (src))
static inline void str_copy_n(char *dst, size_t size, const char *src) {
        size_t n = strnlen(src, size - 1);

        memcpy(dst, src, n);
        dst[n] = 0;
}

#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_ _cleanup_(freep)
