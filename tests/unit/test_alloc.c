/*
 * test_alloc.c: the counted allocator (src/core/alloc.c): every block is
 * charged to the account of the thread that made it and credited back when
 * freed, whichever thread frees it; an account's limit and the fault
 * injection refuse allocations; blocks from cv_calloc_lines start a cache
 * line and behave as cv_calloc's do in every other way.
 */
#include "testutil.h"

#include "core/core.h"

#include <stdint.h>
#include <string.h>

static void test_blocks_charged_and_credited(void **state)
{
    (void)state;
    cv_account_t account = {.name = "test"};
    size_t total = cv_alloc_live_bytes();
    cv_account_t *previous = cv_account_use(&account);
    char *plain = cv_calloc(3, 100);
    char *lined = cv_calloc_lines(5, 37);
    cv_account_use(previous);
    assert_non_null(plain);
    assert_non_null(lined);
    assert_int_equal(cv_account_live_bytes(&account), 300 + 185);
    assert_int_equal(cv_alloc_live_bytes(), total + 300 + 185);
    /* Moved to another account, credited there when freed. */
    cv_account_t other = {.name = "other"};
    cv_account_transfer(lined, &other);
    assert_int_equal(cv_account_live_bytes(&account), 300);
    assert_int_equal(cv_account_live_bytes(&other), 185);
    cv_free(lined);
    cv_free(plain);
    assert_int_equal(cv_account_live_bytes(&account), 0);
    assert_int_equal(cv_account_live_bytes(&other), 0);
    assert_int_equal(cv_alloc_live_bytes(), total);
    assert_int_equal(account.peak_bytes, 300 + 185);
}

static void test_lines_aligned_and_zeroed(void **state)
{
    (void)state;
    enum { N = 64 };
    char *blocks[N];
    for (int i = 0; i < N; i++) {
        size_t bytes = 1 + (size_t)i * 29;
        blocks[i] = cv_calloc_lines(1, bytes);
        assert_non_null(blocks[i]);
        assert_int_equal((uintptr_t)blocks[i] % CV_CACHE_LINE, 0);
        for (size_t k = 0; k < bytes; k++) assert_int_equal(blocks[i][k], 0);
        /* The whole block is the caller's (AddressSanitizer would see a
         * write past it). */
        memset(blocks[i], 0xa5, bytes);
    }
    for (int i = 0; i < N; i++) cv_free(blocks[i]);
    /* Zero bytes: a block all the same, freed as any other. */
    char *empty = cv_calloc_lines(0, 8);
    assert_non_null(empty);
    assert_int_equal((uintptr_t)empty % CV_CACHE_LINE, 0);
    cv_free(empty);
}

static void test_lines_refused_as_others(void **state)
{
    (void)state;
    /* Fault injection: the next allocation fails, whichever kind. */
    cv_alloc_fail_after(1);
    assert_null(cv_calloc_lines(1, 64));
    assert_null(cv_calloc(1, 64));
    assert_int_equal(cv_alloc_failures(), 2);
    cv_alloc_fail_after(0);
    /* An account's limit. */
    cv_account_t account = {.name = "limited", .limit_bytes = 1000};
    cv_account_t *previous = cv_account_use(&account);
    void *fits = cv_calloc_lines(1, 900);
    void *past = cv_calloc_lines(1, 200);
    cv_account_use(previous);
    assert_non_null(fits);
    assert_null(past);
    cv_free(fits);
    /* A size that overflows. */
    assert_null(cv_calloc_lines(SIZE_MAX / 2, 4));
    assert_null(cv_calloc_lines(1, SIZE_MAX - 8));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_charged_and_credited),
        cmocka_unit_test(test_lines_aligned_and_zeroed),
        cmocka_unit_test(test_lines_refused_as_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
