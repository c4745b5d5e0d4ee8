/* test-memfd.c: unit tests of util's sealed memfds: what memfd_new_sealed()
 * makes, and which error memfd_check() gives for each fault, in order. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memfd.h"

#define PAGE 4096u
#define RESIZE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

static int reopen(int fd, int flags) {
        char path[64];

        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        return open(path, flags | O_CLOEXEC);
}

START_TEST(test_new_zeroed) {
        struct stat st;
        char c = 1;
        int fd = -1;

        ck_assert_int_eq(memfd_new_sealed("test-memfd", NULL, 2 * PAGE, RESIZE_SEALS | F_SEAL_SEAL, &fd), 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS), RESIZE_SEALS | F_SEAL_SEAL);
        ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_eq(st.st_size, 2 * PAGE);
        ck_assert_int_eq(pread(fd, &c, 1, PAGE), 1);
        ck_assert_int_eq(c, 0);
        ck_assert_int_lt(ftruncate(fd, PAGE), 0);               /* sealed against shrinking */
        ck_assert_int_eq(pwrite(fd, "x", 1, 0), 1);             /* but not against writing */
        close(fd);
}
END_TEST

START_TEST(test_new_with_data) {
        static const char data[] = "a snapshot";
        char back[sizeof(data)] = "";
        int fd = -1;

        ck_assert_int_eq(memfd_new_sealed("test-memfd", data, sizeof(data), RESIZE_SEALS | F_SEAL_WRITE, &fd), 0);
        ck_assert_int_eq(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
        ck_assert_str_eq(back, data);
        ck_assert_int_lt(pwrite(fd, "x", 1, 0), 0);             /* read-only for good */
        ck_assert_int_eq(memfd_check(fd, RESIZE_SEALS | F_SEAL_WRITE, sizeof(data), sizeof(data), O_RDWR), 0);
        close(fd);
}
END_TEST

START_TEST(test_check_passes) {
        int fd = -1, ro;

        ck_assert_int_eq(memfd_new_sealed("test-memfd", NULL, PAGE, RESIZE_SEALS, &fd), 0);
        ck_assert_int_eq(memfd_check(fd, RESIZE_SEALS, PAGE, PAGE, O_RDWR), 0);
        ck_assert_int_eq(memfd_check(fd, F_SEAL_SHRINK, 1, UINT64_MAX, O_RDWR), 0);
        ck_assert_int_eq(memfd_check(fd, 0, 0, UINT64_MAX, O_RDWR), 0);
        ro = reopen(fd, O_RDONLY);
        ck_assert_int_ge(ro, 0);
        ck_assert_int_eq(memfd_check(ro, F_SEAL_SHRINK, PAGE, UINT64_MAX, O_RDONLY), 0);
        close(ro);
        close(fd);
}
END_TEST

START_TEST(test_check_errors) {
        int fd = -1, ro, p[2];

        ck_assert_int_eq(memfd_check(-1, 0, 0, UINT64_MAX, O_RDWR), -EBADF);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);               /* not a memfd */
        ck_assert_int_eq(memfd_check(p[0], 0, 0, UINT64_MAX, O_RDONLY), -EINVAL);
        close(p[0]);
        close(p[1]);

        ck_assert_int_eq(memfd_new_sealed("test-memfd", NULL, PAGE, F_SEAL_SHRINK, &fd), 0);
        ck_assert_int_eq(memfd_check(fd, RESIZE_SEALS, PAGE, PAGE, O_RDWR), -EINVAL);
        ck_assert_int_eq(memfd_check(fd, F_SEAL_SHRINK, 2 * PAGE, UINT64_MAX, O_RDWR), -EFAULT);
        ck_assert_int_eq(memfd_check(fd, F_SEAL_SHRINK, 1, PAGE - 1, O_RDWR), -EFAULT);
        ck_assert_int_eq(memfd_check(fd, F_SEAL_SHRINK, PAGE, PAGE, O_RDONLY), -EACCES);
        ro = reopen(fd, O_RDONLY);
        ck_assert_int_ge(ro, 0);
        ck_assert_int_eq(memfd_check(ro, F_SEAL_SHRINK, PAGE, PAGE, O_RDWR), -EACCES);
        /* In order: seals before size before mode. */
        ck_assert_int_eq(memfd_check(ro, RESIZE_SEALS, 2 * PAGE, UINT64_MAX, O_RDWR), -EINVAL);
        ck_assert_int_eq(memfd_check(ro, F_SEAL_SHRINK, 2 * PAGE, UINT64_MAX, O_RDWR), -EFAULT);
        close(ro);
        close(fd);
}
END_TEST

static Suite *memfd_suite(void) {
        Suite *s = suite_create("memfd");
        TCase *tc = tcase_create("memfd");

        tcase_add_test(tc, test_new_zeroed);
        tcase_add_test(tc, test_new_with_data);
        tcase_add_test(tc, test_check_passes);
        tcase_add_test(tc, test_check_errors);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(memfd_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
