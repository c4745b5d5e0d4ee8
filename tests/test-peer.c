/* test-peer.c: unit tests of a peer (one connected process): its CID table
 * and the table of envelopes it has received and not yet answered. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "message.h"
#include "peer.h"

static struct xns_sid sid_n(uint32_t n) {
        return (struct xns_sid){ { n, ~n, n * 7, 0xc0ffee } };
}

static struct peer *peer_make(void) {
        struct peer *p = NULL;

        ck_assert_int_eq(peer_new(&p, NULL, getpid(), getuid(), getgid()), 0);
        ck_assert_ptr_nonnull(p);
        return p;
}

START_TEST(test_new) {
        struct peer *a = peer_make(), *b = peer_make();
        static const uint8_t zero[XNS_TOKEN_LEN];

        ck_assert_int_eq(a->pid, getpid());
        ck_assert_int_eq(a->uid, getuid());
        /* the token is what lets further links join the process: random */
        ck_assert_int_ne(memcmp(a->token, zero, XNS_TOKEN_LEN), 0);
        ck_assert_int_ne(memcmp(a->token, b->token, XNS_TOKEN_LEN), 0);
        ck_assert_ptr_null(peer_cid_lookup(a, PEER_CID_FIRST));
        ck_assert_ptr_null(peer_envelope_get(a, 1, 0));
        ck_assert_ptr_null(peer_free(a));
        ck_assert_ptr_null(peer_free(b));
        ck_assert_ptr_null(peer_free(NULL));
}
END_TEST

START_TEST(test_cid_first_and_repeat) {
        struct peer *p = peer_make();
        struct xns_sid s1 = sid_n(1), s2 = sid_n(2), s3 = sid_n(3);
        uint32_t c1 = 0, c2 = 0, c3 = 0, again = 0;

        ck_assert_int_eq(peer_cid_add(p, &s1, 32, &c1), 0);
        ck_assert_uint_eq(c1, 2);                       /* 0 and 1 are never valid */
        ck_assert_int_eq(peer_cid_add(p, &s2, 32, &c2), 0);
        ck_assert_int_eq(peer_cid_add(p, &s3, 32, &c3), 0);
        ck_assert_uint_ne(c2, c1);
        ck_assert_uint_ne(c3, c1);
        ck_assert_uint_ne(c3, c2);
        ck_assert_uint_ge(c2, 2);
        ck_assert_uint_ge(c3, 2);

        /* connecting twice to one SID gives the same CID */
        ck_assert_int_eq(peer_cid_add(p, &s2, 32, &again), 0);
        ck_assert_uint_eq(again, c2);
        ck_assert_int_eq(peer_cid_add(p, &s1, 32, &again), 0);
        ck_assert_uint_eq(again, c1);

        ck_assert(xns_sid_equal(peer_cid_lookup(p, c1), &s1));
        ck_assert(xns_sid_equal(peer_cid_lookup(p, c2), &s2));
        ck_assert(xns_sid_equal(peer_cid_lookup(p, c3), &s3));
        ck_assert_ptr_null(peer_cid_lookup(p, 0));
        ck_assert_ptr_null(peer_cid_lookup(p, 1));
        ck_assert_ptr_null(peer_cid_lookup(p, 5));
        ck_assert_ptr_null(peer_cid_lookup(p, 1000));
        ck_assert_ptr_null(peer_cid_lookup(p, UINT32_MAX));
        peer_free(p);
}
END_TEST

/* A SID differing in any one word is another server. */
START_TEST(test_cid_sid_words) {
        struct peer *p = peer_make();
        struct xns_sid base = sid_n(9);
        uint32_t cids[5];

        ck_assert_int_eq(peer_cid_add(p, &base, 32, &cids[0]), 0);
        for (int w = 0; w < 4; w++) {
                struct xns_sid s = base;

                s.w[w] ^= 1;
                ck_assert_int_eq(peer_cid_add(p, &s, 32, &cids[w + 1]), 0);
                for (int k = 0; k <= w; k++)
                        ck_assert_uint_ne(cids[w + 1], cids[k]);
        }
        peer_free(p);
}
END_TEST

START_TEST(test_cid_max) {
        struct peer *p = peer_make();
        const uint32_t max = 20;        /* beyond the table's first growth */
        uint32_t cid = 0;

        for (uint32_t i = 0; i < max; i++) {
                struct xns_sid s = sid_n(i);

                ck_assert_int_eq(peer_cid_add(p, &s, max, &cid), 0);
                ck_assert_uint_eq(cid, PEER_CID_FIRST + i);
        }
        struct xns_sid extra = sid_n(1000);
        ck_assert_int_eq(peer_cid_add(p, &extra, max, &cid), -ENOSPC);
        ck_assert_int_eq(peer_cid_add(p, &extra, max, &cid), -ENOSPC);

        /* a SID already held is not a new connection, even when full */
        struct xns_sid held = sid_n(7);
        ck_assert_int_eq(peer_cid_add(p, &held, max, &cid), 0);
        ck_assert_uint_eq(cid, PEER_CID_FIRST + 7);

        for (uint32_t i = 0; i < max; i++) {
                struct xns_sid s = sid_n(i);

                ck_assert(xns_sid_equal(peer_cid_lookup(p, PEER_CID_FIRST + i), &s));
        }
        ck_assert_ptr_null(peer_cid_lookup(p, PEER_CID_FIRST + max));
        peer_free(p);
}
END_TEST

/* A small limit inside a table that grew in larger steps still holds. */
START_TEST(test_cid_small_max) {
        struct peer *p = peer_make();
        uint32_t cid = 0;

        for (uint32_t i = 0; i < 3; i++) {
                struct xns_sid s = sid_n(i);

                ck_assert_int_eq(peer_cid_add(p, &s, 3, &cid), 0);
        }
        struct xns_sid s4 = sid_n(4);
        ck_assert_int_eq(peer_cid_add(p, &s4, 3, &cid), -ENOSPC);
        ck_assert_int_eq(peer_cid_remove(p, PEER_CID_FIRST + 1), 0);
        ck_assert_int_eq(peer_cid_add(p, &s4, 3, &cid), 0);
        ck_assert_uint_eq(cid, PEER_CID_FIRST + 1);
        struct xns_sid s5 = sid_n(5);
        ck_assert_int_eq(peer_cid_add(p, &s5, 3, &cid), -ENOSPC);

        struct xns_sid s0 = sid_n(0);
        ck_assert_int_eq(peer_cid_add(p, &s0, 0, &cid), 0);    /* held already */
        struct peer *q = peer_make();
        ck_assert_int_eq(peer_cid_add(q, &s0, 0, &cid), -ENOSPC);
        peer_free(q);
        peer_free(p);
}
END_TEST

START_TEST(test_cid_remove_and_reuse) {
        struct peer *p = peer_make();
        struct xns_sid s1 = sid_n(1), s2 = sid_n(2), s3 = sid_n(3), s4 = sid_n(4);
        uint32_t c1, c2, c3, c4, again;

        ck_assert_int_eq(peer_cid_add(p, &s1, 32, &c1), 0);
        ck_assert_int_eq(peer_cid_add(p, &s2, 32, &c2), 0);
        ck_assert_int_eq(peer_cid_add(p, &s3, 32, &c3), 0);

        ck_assert_int_eq(peer_cid_remove(p, c2), 0);
        ck_assert_ptr_null(peer_cid_lookup(p, c2));
        ck_assert_int_eq(peer_cid_remove(p, c2), -ENOENT);      /* twice */
        ck_assert(xns_sid_equal(peer_cid_lookup(p, c1), &s1));  /* others untouched */
        ck_assert(xns_sid_equal(peer_cid_lookup(p, c3), &s3));
        ck_assert_int_eq(peer_cid_remove(p, 0), -ENOENT);
        ck_assert_int_eq(peer_cid_remove(p, 1), -ENOENT);
        ck_assert_int_eq(peer_cid_remove(p, 99), -ENOENT);

        /* the freed slot is reused, and now names the new server */
        ck_assert_int_eq(peer_cid_add(p, &s4, 32, &c4), 0);
        ck_assert_uint_eq(c4, c2);
        ck_assert(xns_sid_equal(peer_cid_lookup(p, c4), &s4));

        /* reconnecting to the removed server gets a fresh CID */
        ck_assert_int_eq(peer_cid_add(p, &s2, 32, &again), 0);
        ck_assert_uint_ne(again, c1);
        ck_assert_uint_ne(again, c3);
        ck_assert_uint_ne(again, c4);
        ck_assert(xns_sid_equal(peer_cid_lookup(p, again), &s2));
        peer_free(p);
}
END_TEST

START_TEST(test_envelopes) {
        struct peer *p = peer_make();
        struct message *m1 = message_new(), *m2 = message_new(), *m3 = message_new();

        ck_assert_int_eq(peer_envelope_add(p, m1, 100), 0);
        ck_assert_int_eq(peer_envelope_add(p, m2, 101), 0);
        ck_assert_uint_eq(m1->handle, 1);                       /* handle 0 means "no answer" */
        ck_assert_uint_eq(m2->handle, 2);
        ck_assert_ptr_eq(m1->holder, p);
        ck_assert_uint_eq(m1->gen, 100);

        ck_assert_ptr_eq(peer_envelope_get(p, 1, 100), m1);
        ck_assert_ptr_eq(peer_envelope_get(p, 2, 101), m2);
        ck_assert_ptr_null(peer_envelope_get(p, 1, 101));       /* wrong generation */
        ck_assert_ptr_null(peer_envelope_get(p, 2, 100));
        ck_assert_ptr_null(peer_envelope_get(p, 0, 100));
        ck_assert_ptr_null(peer_envelope_get(p, 3, 0));
        ck_assert_ptr_null(peer_envelope_get(p, UINT32_MAX, 100));

        peer_envelope_remove(p, m1);
        ck_assert_ptr_null(peer_envelope_get(p, 1, 100));       /* answered: a second answer fails */
        ck_assert_ptr_null(m1->holder);
        ck_assert_uint_eq(m1->handle, 0);
        ck_assert_ptr_eq(peer_envelope_get(p, 2, 101), m2);

        /* the slot is reused; the old (handle, gen) does not reach the new message */
        ck_assert_int_eq(peer_envelope_add(p, m3, 102), 0);
        ck_assert_uint_eq(m3->handle, 1);
        ck_assert_ptr_null(peer_envelope_get(p, 1, 100));
        ck_assert_ptr_eq(peer_envelope_get(p, 1, 102), m3);

        peer_envelope_remove(p, m2);
        peer_envelope_remove(p, m3);
        message_free(m1);
        message_free(m2);
        message_free(m3);
        peer_free(p);
}
END_TEST

START_TEST(test_many_envelopes) {
        struct peer *p = peer_make();
        struct message *m[100];

        for (uint32_t i = 0; i < 100; i++) {
                m[i] = message_new();
                ck_assert_int_eq(peer_envelope_add(p, m[i], 1000 + i), 0);
                ck_assert_uint_eq(m[i]->handle, i + 1);
        }
        for (uint32_t i = 0; i < 100; i++)
                ck_assert_ptr_eq(peer_envelope_get(p, i + 1, 1000 + i), m[i]);
        for (uint32_t i = 0; i < 100; i += 3)
                peer_envelope_remove(p, m[i]);
        for (uint32_t i = 0; i < 100; i++)
                ck_assert_ptr_eq(peer_envelope_get(p, i + 1, 1000 + i), i % 3 ? m[i] : NULL);
        for (uint32_t i = 0; i < 100; i++) {
                if (i % 3)
                        peer_envelope_remove(p, m[i]);
                message_free(m[i]);
        }
        peer_free(p);
}
END_TEST

static Suite *peer_suite(void) {
        Suite *s = suite_create("peer");
        TCase *tc = tcase_create("cid");

        tcase_add_test(tc, test_new);
        tcase_add_test(tc, test_cid_first_and_repeat);
        tcase_add_test(tc, test_cid_sid_words);
        tcase_add_test(tc, test_cid_max);
        tcase_add_test(tc, test_cid_small_max);
        tcase_add_test(tc, test_cid_remove_and_reuse);
        suite_add_tcase(s, tc);

        tc = tcase_create("envelope");
        tcase_add_test(tc, test_envelopes);
        tcase_add_test(tc, test_many_envelopes);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(peer_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
