/* test-name.c: unit tests of the name registry (xous-names): unique names,
 * connection limits, and trusted_init_done() for trust-on-first-use. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"

/* The registry only stores server pointers; distinct addresses suffice. */
static char server_a, server_b;
#define SERVER_A ((struct server *)&server_a)
#define SERVER_B ((struct server *)&server_b)

START_TEST(test_add_find_remove) {
        struct name_registry reg = NAME_REGISTRY_INIT;
        struct name *a = NULL, *b = NULL;

        ck_assert_ptr_null(name_registry_find(&reg, "alpha"));
        ck_assert_int_eq(name_registry_add(&reg, "alpha", 0, SERVER_A, &a), 0);
        ck_assert_int_eq(name_registry_add(&reg, "beta", 3, SERVER_B, &b), 0);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq(reg.count, 2);

        ck_assert_ptr_eq(name_registry_find(&reg, "alpha"), a);
        ck_assert_ptr_eq(name_registry_find(&reg, "beta"), b);
        ck_assert_str_eq(a->str, "alpha");
        ck_assert_ptr_eq(a->server, SERVER_A);
        ck_assert_ptr_eq(b->server, SERVER_B);
        ck_assert_uint_eq(b->max_conns, 3);
        ck_assert_uint_eq(b->granted, 0);

        /* exact match only: no prefixes, no case folding */
        ck_assert_ptr_null(name_registry_find(&reg, "alph"));
        ck_assert_ptr_null(name_registry_find(&reg, "alphabet"));
        ck_assert_ptr_null(name_registry_find(&reg, "Alpha"));

        name_registry_remove(&reg, a);
        ck_assert_ptr_null(name_registry_find(&reg, "alpha"));
        ck_assert_ptr_eq(name_registry_find(&reg, "beta"), b);
        ck_assert_uint_eq(reg.count, 1);

        /* a removed name can be registered again, by someone else */
        ck_assert_int_eq(name_registry_add(&reg, "alpha", 0, SERVER_B, &a), 0);
        ck_assert_ptr_eq(name_registry_find(&reg, "alpha")->server, SERVER_B);
        name_registry_deinit(&reg);
        ck_assert_uint_eq(reg.count, 0);
        ck_assert_ptr_null(reg.root);
}
END_TEST

START_TEST(test_duplicate) {
        struct name_registry reg = NAME_REGISTRY_INIT;
        struct name *a = NULL, *dup = NULL;

        ck_assert_int_eq(name_registry_add(&reg, "ticktimer", 1, SERVER_A, &a), 0);
        ck_assert_int_eq(name_registry_add(&reg, "ticktimer", 0, SERVER_B, &dup), -EEXIST);
        ck_assert_ptr_null(dup);
        ck_assert_uint_eq(reg.count, 1);
        /* the first registration is untouched: same server, same limit */
        ck_assert_ptr_eq(name_registry_find(&reg, "ticktimer"), a);
        ck_assert_ptr_eq(a->server, SERVER_A);
        ck_assert_uint_eq(a->max_conns, 1);
        /* the refused limited name did not count as an open one either */
        ck_assert_int_eq(name_grant(&reg, a), 0);
        ck_assert(name_registry_trusted_init_done(&reg));
        name_registry_deinit(&reg);
}
END_TEST

/* max_conns caps how many connections are ever handed out: every grant
 * counts, and a full name refuses further ones. */
START_TEST(test_limit) {
        struct name_registry reg = NAME_REGISTRY_INIT;
        struct name *n = NULL;

        ck_assert_int_eq(name_registry_add(&reg, "keystore", 2, SERVER_A, &n), 0);
        ck_assert(!name_full(n));
        ck_assert_int_eq(name_grant(&reg, n), 0);
        ck_assert(!name_full(n));
        ck_assert_int_eq(name_grant(&reg, n), 0);
        ck_assert(name_full(n));
        ck_assert_int_eq(name_grant(&reg, n), -EACCES);
        ck_assert_int_eq(name_grant(&reg, n), -EACCES);
        ck_assert_uint_eq(n->granted, 2);
        ck_assert(name_full(n));
        name_registry_deinit(&reg);
}
END_TEST

START_TEST(test_unlimited) {
        struct name_registry reg = NAME_REGISTRY_INIT;
        struct name *n = NULL;

        ck_assert_int_eq(name_registry_add(&reg, "log", 0, SERVER_A, &n), 0);
        for (int i = 0; i < 1000; i++) {
                ck_assert(!name_full(n));
                ck_assert_int_eq(name_grant(&reg, n), 0);
        }
        ck_assert(!name_full(n));
        ck_assert(name_registry_trusted_init_done(&reg));
        name_registry_deinit(&reg);
}
END_TEST

/* trusted_init_done() is true only while no limited name has room left. */
START_TEST(test_trusted_init_done) {
        struct name_registry reg = NAME_REGISTRY_INIT;
        struct name *free_for_all = NULL, *one = NULL, *two = NULL;

        ck_assert(name_registry_trusted_init_done(&reg));                 /* nothing registered */
        ck_assert_int_eq(name_registry_add(&reg, "free", 0, SERVER_A, &free_for_all), 0);
        ck_assert(name_registry_trusted_init_done(&reg));                 /* no limited names */

        ck_assert_int_eq(name_registry_add(&reg, "one", 1, SERVER_A, &one), 0);
        ck_assert(!name_registry_trusted_init_done(&reg));
        ck_assert_int_eq(name_grant(&reg, free_for_all), 0);              /* unlimited grants do not help */
        ck_assert(!name_registry_trusted_init_done(&reg));
        ck_assert_int_eq(name_grant(&reg, one), 0);
        ck_assert(name_registry_trusted_init_done(&reg));                 /* all full */

        ck_assert_int_eq(name_registry_add(&reg, "two", 2, SERVER_B, &two), 0);
        ck_assert(!name_registry_trusted_init_done(&reg));
        ck_assert_int_eq(name_grant(&reg, two), 0);
        ck_assert(!name_registry_trusted_init_done(&reg));                /* one slot left */
        ck_assert_int_eq(name_grant(&reg, one), -EACCES);                 /* refusals change nothing */
        ck_assert(!name_registry_trusted_init_done(&reg));

        name_registry_remove(&reg, two);                                  /* the open one goes */
        ck_assert(name_registry_trusted_init_done(&reg));
        name_registry_deinit(&reg);
}
END_TEST

/* Removing names, full or unlimited, must not disturb the count of open
 * limited names: a later limited name is still waited for. */
START_TEST(test_trusted_after_removing_full) {
        struct name_registry reg = NAME_REGISTRY_INIT;
        struct name *full = NULL, *unlimited = NULL, *later = NULL;

        ck_assert_int_eq(name_registry_add(&reg, "full", 1, SERVER_A, &full), 0);
        ck_assert_int_eq(name_grant(&reg, full), 0);
        ck_assert_int_eq(name_registry_add(&reg, "unlimited", 0, SERVER_A, &unlimited), 0);
        name_registry_remove(&reg, full);
        name_registry_remove(&reg, unlimited);
        ck_assert(name_registry_trusted_init_done(&reg));

        ck_assert_int_eq(name_registry_add(&reg, "later", 1, SERVER_B, &later), 0);
        ck_assert(!name_registry_trusted_init_done(&reg));
        ck_assert_int_eq(name_grant(&reg, later), 0);
        ck_assert(name_registry_trusted_init_done(&reg));
        name_registry_deinit(&reg);
}
END_TEST

START_TEST(test_deinit_forgets_open_limits) {
        struct name_registry reg = NAME_REGISTRY_INIT;
        struct name *n = NULL;

        ck_assert_int_eq(name_registry_add(&reg, "open", 5, SERVER_A, &n), 0);
        ck_assert(!name_registry_trusted_init_done(&reg));
        name_registry_deinit(&reg);
        ck_assert(name_registry_trusted_init_done(&reg));
        ck_assert_ptr_null(name_registry_find(&reg, "open"));
        name_registry_deinit(&reg);                     /* twice is harmless */
}
END_TEST

/* Names up to 63 bytes, UTF-8 included, are kept whole. */
START_TEST(test_long_and_utf8_names) {
        struct name_registry reg = NAME_REGISTRY_INIT;
        char longest[XNS_NAME_MAX + 1], shorter[XNS_NAME_MAX + 1];
        struct name *a = NULL, *b = NULL, *c = NULL;

        memset(longest, 'x', XNS_NAME_MAX);
        longest[XNS_NAME_MAX] = '\0';
        memcpy(shorter, longest, sizeof(shorter));
        shorter[XNS_NAME_MAX - 1] = '\0';

        ck_assert_int_eq(name_registry_add(&reg, longest, 0, SERVER_A, &a), 0);
        ck_assert_int_eq(name_registry_add(&reg, shorter, 0, SERVER_B, &b), 0);
        ck_assert_int_eq(name_registry_add(&reg, "\xf0\x9f\x98\x80-server", 0, SERVER_A, &c), 0);
        ck_assert_str_eq(a->str, longest);
        ck_assert_ptr_eq(name_registry_find(&reg, longest), a);
        ck_assert_ptr_eq(name_registry_find(&reg, shorter), b);
        ck_assert_ptr_eq(name_registry_find(&reg, "\xf0\x9f\x98\x80-server"), c);
        name_registry_deinit(&reg);
}
END_TEST

START_TEST(test_many_names) {
        struct name_registry reg = NAME_REGISTRY_INIT;
        struct name *names[500];
        char buf[32];

        for (int i = 0; i < 500; i++) {
                snprintf(buf, sizeof(buf), "server-%d", i);
                ck_assert_int_eq(name_registry_add(&reg, buf, i % 2, SERVER_A, &names[i]), 0);
        }
        ck_assert_uint_eq(reg.count, 500);
        ck_assert(!name_registry_trusted_init_done(&reg));
        for (int i = 0; i < 500; i++) {
                snprintf(buf, sizeof(buf), "server-%d", i);
                ck_assert_ptr_eq(name_registry_find(&reg, buf), names[i]);
                if (i % 2)
                        ck_assert_int_eq(name_grant(&reg, names[i]), 0);
                ck_assert_int_eq(name_registry_trusted_init_done(&reg), i >= 499);
        }
        for (int i = 0; i < 500; i += 2)
                name_registry_remove(&reg, names[i]);
        ck_assert_uint_eq(reg.count, 250);
        ck_assert_ptr_null(name_registry_find(&reg, "server-0"));
        ck_assert_ptr_eq(name_registry_find(&reg, "server-1"), names[1]);
        name_registry_deinit(&reg);     /* frees the other 250: leak checkers watch */
}
END_TEST

static Suite *name_suite(void) {
        Suite *s = suite_create("name");
        TCase *tc = tcase_create("registry");

        tcase_add_test(tc, test_add_find_remove);
        tcase_add_test(tc, test_duplicate);
        tcase_add_test(tc, test_long_and_utf8_names);
        tcase_add_test(tc, test_many_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_add_test(tc, test_limit);
        tcase_add_test(tc, test_unlimited);
        tcase_add_test(tc, test_trusted_init_done);
        tcase_add_test(tc, test_trusted_after_removing_full);
        tcase_add_test(tc, test_deinit_forgets_open_limits);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(name_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
