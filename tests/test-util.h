/* test-util.h: small helpers the unit suites share. */
#pragma once

#include <check.h>
#include <dirent.h>

/* Descriptors this process has open, not counting the one used to count. */
static inline int count_open_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1;   /* the directory's own descriptor */
}
