/* memfd.h: sealed memfds, the shared memory of xns: made on one side of a
 * link, checked on the other before it is mapped. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int memfd_new_sealed(const char *name, const void *data, size_t size, unsigned seals, int *ret_fd);
int memfd_check(int fd, unsigned seals, uint64_t min_size, uint64_t max_size, int access_mode);
int memfd_open_read_only(int fd);
