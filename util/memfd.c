/* memfd.c: sealed memfds, the shared memory of xns: made on one side of a
 * link, checked on the other before it is mapped. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "memfd.h"

/* Writes all of data from the start of the file. */
static int memfd_write_all(int fd, const uint8_t *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                data += n;
                size -= (size_t)n;
        }
        return 0;
}

/*
 * memfd_new_sealed() - a close-on-exec memfd of size bytes, then sealed.
 *
 * It holds data, or zeros when data is NULL; seals are the F_SEAL_* to add
 * (F_SEAL_WRITE makes it read-only for good, data included). Returns 0 with
 * *ret_fd set, or a negative errno.
 */
int memfd_new_sealed(const char *name, const void *data, size_t size, unsigned seals, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t)size) < 0)
                return -errno;
        if (data) {
                r = memfd_write_all(fd, data, size);
                if (r < 0)
                        return r;
        }
        if (fcntl(fd, F_ADD_SEALS, (int)seals) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/*
 * memfd_check() - is fd a memfd another process may not pull from under us?
 *
 * It must carry at least the F_SEAL_* in seals, be min_size to max_size
 * bytes long, and be open with access_mode (O_RDONLY, O_WRONLY or O_RDWR).
 * Checked in that order; the first failure is returned: -EBADF for no open
 * descriptor, -EINVAL for one that is not a memfd or lacks a seal, -EFAULT
 * for a size out of range, -EACCES for another access mode. 0 if all hold.
 */
int memfd_check(int fd, unsigned seals, uint64_t min_size, uint64_t max_size, int access_mode) {
        struct stat st;
        int have, flags;

        have = fcntl(fd, F_GET_SEALS);
        if (have < 0)
                return -errno;
        if (((unsigned)have & seals) != seals)
                return -EINVAL;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size < 0 || (uint64_t)st.st_size < min_size || (uint64_t)st.st_size > max_size)
                return -EFAULT;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if ((flags & O_ACCMODE) != access_mode)
                return -EACCES;
        return 0;
}

/*
 * memfd_open_read_only() - fd's file opened again, read-only and
 * close-on-exec (through /proc/self/fd: a descriptor of its own, not a
 * dup). Not a limit on whoever gets it: the file's mode lets a holder open
 * it read-write again the same way. Returns the descriptor or a negative
 * errno.
 */
int memfd_open_read_only(int fd) {
        char path[sizeof("/proc/self/fd/") + 12];
        int ro;

        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ro = open(path, O_RDONLY | O_CLOEXEC);
        return ro < 0 ? -errno : ro;
}
