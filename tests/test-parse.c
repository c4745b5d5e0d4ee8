/* test-parse.c: unit tests of util's number parsing: what a command line
 * or policy file may say, and the errors for everything else. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "macro.h"
#include "parse.h"

/* Not numbers to any parser: empty, signed, blank, trailing or inner garbage. */
static const char *const not_numbers[] = {
        "", "-1", "+1", " 1", "1 ", "\t1", "1\n", "abc", "12abc", "1.5", "1e3", "0x", "x1",
};

START_TEST(test_u32_decimal) {
        uint32_t v = 7;

        ck_assert_int_eq(parse_u32("0", &v), 0);
        ck_assert_uint_eq(v, 0);
        ck_assert_int_eq(parse_u32("42", &v), 0);
        ck_assert_uint_eq(v, 42);
        ck_assert_int_eq(parse_u32("010", &v), 0);             /* decimal, not octal */
        ck_assert_uint_eq(v, 10);
        ck_assert_int_eq(parse_u32("4294967295", &v), 0);
        ck_assert_uint_eq(v, UINT32_MAX);
}
END_TEST

START_TEST(test_u32_rejects) {
        uint32_t v = 7;

        for (size_t i = 0; i < ELEMENTSOF(not_numbers); i++)
                ck_assert_msg(parse_u32(not_numbers[i], &v) == -EINVAL, "'%s' parsed", not_numbers[i]);
        ck_assert_int_eq(parse_u32("0x10", &v), -EINVAL);
        ck_assert_int_eq(parse_u32("4294967296", &v), -ERANGE);
        ck_assert_int_eq(parse_u32("99999999999999999999999", &v), -ERANGE);
        ck_assert_int_eq(parse_u32("99999999999999999999999x", &v), -EINVAL);
        ck_assert_uint_eq(v, 7);                                /* untouched on failure */
}
END_TEST

START_TEST(test_u32_or_hex) {
        uint32_t v = 7;

        ck_assert_int_eq(parse_u32_or_hex("0x10", &v), 0);
        ck_assert_uint_eq(v, 16);
        ck_assert_int_eq(parse_u32_or_hex("0XfF", &v), 0);
        ck_assert_uint_eq(v, 255);
        ck_assert_int_eq(parse_u32_or_hex("0xffffffff", &v), 0);
        ck_assert_uint_eq(v, UINT32_MAX);
        ck_assert_int_eq(parse_u32_or_hex("010", &v), 0);
        ck_assert_uint_eq(v, 10);
        ck_assert_int_eq(parse_u32_or_hex("ff", &v), -EINVAL);
        ck_assert_int_eq(parse_u32_or_hex("0x0x1", &v), -EINVAL);
        ck_assert_int_eq(parse_u32_or_hex("0x-1", &v), -EINVAL);
        ck_assert_int_eq(parse_u32_or_hex("0x100000000", &v), -ERANGE);
        for (size_t i = 0; i < ELEMENTSOF(not_numbers); i++)
                ck_assert_msg(parse_u32_or_hex(not_numbers[i], &v) == -EINVAL, "'%s' parsed", not_numbers[i]);
}
END_TEST

START_TEST(test_u64) {
        uint64_t v = 7;

        ck_assert_int_eq(parse_u64("18446744073709551615", &v), 0);
        ck_assert_uint_eq(v, UINT64_MAX);
        ck_assert_int_eq(parse_u64("18446744073709551616", &v), -ERANGE);
        ck_assert_int_eq(parse_u64("4294967296", &v), 0);
        ck_assert_uint_eq(v, 4294967296ull);
        for (size_t i = 0; i < ELEMENTSOF(not_numbers); i++)
                ck_assert_msg(parse_u64(not_numbers[i], &v) == -EINVAL, "'%s' parsed", not_numbers[i]);
}
END_TEST

static Suite *parse_suite(void) {
        Suite *s = suite_create("parse");
        TCase *tc = tcase_create("numbers");

        tcase_add_test(tc, test_u32_decimal);
        tcase_add_test(tc, test_u32_rejects);
        tcase_add_test(tc, test_u32_or_hex);
        tcase_add_test(tc, test_u64);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(parse_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
