/* buf.c: buffers for memory messages: sealed memfds, mapped once, lent again and again. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "memfd.h"
#include "xous-internal.h"

/* Largest buffer: whole pages whose length fits the wire's 32 bits. */
#define BUF_LEN_MAX ((size_t)UINT32_MAX & ~(size_t)(XNS_PAGE_SIZE - 1))

static size_t buf_round_len(size_t len) {
        return (len + XNS_PAGE_SIZE - 1) & ~(size_t)(XNS_PAGE_SIZE - 1);
}

static int buf_create(struct xous_buf *buf) {
        void *p;
        int r;

        r = memfd_new_sealed("xous-buf", NULL, buf->len, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, &buf->fd);
        if (r < 0)
                return r;
        p = mmap(NULL, buf->len, PROT_READ | PROT_WRITE, MAP_SHARED, buf->fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        buf->data = p;
        r = memfd_open_read_only(buf->fd);       /* for lending without write access */
        if (r < 0)
                return r;
        buf->ro_fd = r;
        return 0;
}

/*
 * xous_buf_new() - a zeroed shared buffer of at least len bytes.
 *
 * The length is rounded up to whole pages. Returns NULL with errno set:
 * EINVAL for 0 or a length beyond 32 bits, else what the kernel said.
 */
_public_ xous_buf_t *xous_buf_new(size_t len) {
        xous_buf_t *buf;
        int r;

        if (len == 0 || len > BUF_LEN_MAX) {
                errno = EINVAL;
                return NULL;
        }
        buf = malloc(sizeof(*buf));
        if (!buf)
                return NULL;
        *buf = (struct xous_buf)XOUS_BUF_INIT;
        buf->len = buf_round_len(len);
        r = buf_create(buf);
        if (r < 0) {
                xous_buf_free(buf);
                errno = -r;
                return NULL;
        }
        return buf;
}

_public_ void *xous_buf_data(xous_buf_t *buf) {
        return buf ? buf->data : NULL;
}

_public_ size_t xous_buf_len(const xous_buf_t *buf) {
        return buf ? buf->len : 0;
}

/* Whether xnsd still holds the message of a lend that timed out: its end
 * of the pipe closes once the server has returned it or is gone. */
static bool buf_release_pending(int busy_fd) {
        struct pollfd p = { .fd = busy_fd, .events = POLLIN };

        return busy_fd >= 0 && poll(&p, 1, 0) == 0;
}

/* buf_busy() - as xous_buf_busy(), forgetting the pipe once it has said so. */
bool buf_busy(xous_buf_t *buf) {
        if (buf->busy_fd >= 0 && !buf_release_pending(buf->busy_fd))
                buf->busy_fd = safe_close(buf->busy_fd);
        return buf->busy_fd >= 0;
}

/*
 * xous_buf_busy() - the buffer is still lent: a lend of it timed out and its
 * server has not dropped the envelope yet (nor gone away).
 */
_public_ bool xous_buf_busy(const xous_buf_t *buf) {
        return buf && buf_release_pending(buf->busy_fd);
}

/*
 * xous_buf_free() - unmap and close; NULL is fine.
 *
 * A busy buffer is freed too: the pages are shared memory, which the kernel
 * frees once the server, the last to hold them, lets them go.
 */
_public_ void xous_buf_free(xous_buf_t *buf) {
        if (!buf)
                return;
        kept_forget(buf);
        if (buf->data)
                munmap(buf->data, buf->len);
        safe_close(buf->fd);
        safe_close(buf->ro_fd);
        safe_close(buf->busy_fd);
        free(buf);
}

_public_ void xous_buf_freep(xous_buf_t **buf) {
        if (buf && *buf) {
                xous_buf_free(*buf);
                *buf = NULL;
        }
}
