/* test-util.h: small helpers the Check suites share. */
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

/* A test case of its own for t, its setup and teardown an unchecked fixture:
 * they run in the runner, so the teardown runs even when the test fails or
 * hangs. */
static inline TCase *add_fixture_test(Suite *s, const TTest *t, SFun setup, SFun teardown, int timeout_s) {
        TCase *tc = tcase_create(t->name);

        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, timeout_s);
        tcase_add_test(tc, t);
        suite_add_tcase(s, tc);
        return tc;
}
