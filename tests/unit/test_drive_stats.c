/*
 * test_drive_stats.c: the pure computations of `caravel drive`
 * (tools/drive_stats.c) against answers worked out by hand: nearest-rank
 * percentiles, attainment with misses of every kind, the sweep's highest
 * load meeting a target (unsorted loads, a miss below a pass, NaN), the
 * seeded arrival sequence (reproducible, exponential with the right mean
 * and spread, tenants in proportion to their weights, weight 0 never
 * drawn), and the option lists.
 */
#include "testutil.h"

#include "drive_stats.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static void test_percentile_nearest_rank(void **state)
{
    double v[100];
    for (int i = 0; i < 100; i++) v[i] = 100 - i; /* 100 .. 1, unsorted */
    cv_drive_sort(v, 100);
    assert_true(v[0] == 1 && v[99] == 100);
    /* Nearest rank: the ceil(q n)-th smallest. */
    assert_true(cv_drive_percentile(v, 100, 0.50) == 50);
    assert_true(cv_drive_percentile(v, 100, 0.99) == 99); /* 0.99 * 100 rounds above 99 in binary */
    assert_true(cv_drive_percentile(v, 100, 0.999) == 100);
    assert_true(cv_drive_percentile(v, 100, 1.0) == 100);
    assert_true(cv_drive_percentile(v, 100, 0.0) == 1);
    assert_true(cv_drive_percentile(v, 100, 0.011) == 2);
    /* p99.9 of fewer than 1000 samples is their maximum; of 1000, the 999th. */
    double w[1000];
    for (int i = 0; i < 1000; i++) w[i] = i;
    assert_true(cv_drive_percentile(w, 10, 0.999) == 9);
    assert_true(cv_drive_percentile(w, 1000, 0.999) == 998);
    assert_true(cv_drive_percentile(w, 1000, 0.99) == 989);
    /* One sample is every percentile; none reads 0. */
    double one = 7.5;
    assert_true(cv_drive_percentile(&one, 1, 0.5) == 7.5 && cv_drive_percentile(&one, 1, 0.999) == 7.5);
    assert_true(cv_drive_percentile(NULL, 0, 0.99) == 0);
    /* Ties and an odd count. */
    double t[] = {3, 1, 2, 2, 5};
    cv_drive_sort(t, 5);
    assert_true(cv_drive_percentile(t, 5, 0.5) == 2 && cv_drive_percentile(t, 5, 0.8) == 3 &&
                cv_drive_percentile(t, 5, 0.81) == 5);
}

/* Selection gives what sorting gives, at every rank, with duplicates and
 * in any order. */
static void test_select_matches_sort(void **state)
{
    enum { N = 2001 };
    static double v[N], sorted[N], work[N];
    const double qs[] = {0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0};
    uint64_t x = 12345;
    for (int trial = 0; trial < 40; trial++) {
        size_t n = 1 + (size_t)(trial * 53 % N);
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            /* Few distinct values in some trials: many ties. */
            v[i] = trial % 3 == 0 ? (double)((x >> 33) % 7) : (double)(x >> 11) / 9007199254740992.0;
            sorted[i] = v[i];
        }
        cv_drive_sort(sorted, n);
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
            memcpy(work, v, n * sizeof(double));
            double got = cv_drive_select(work, n, qs[k]), want = cv_drive_percentile(sorted, n, qs[k]);
            if (got != want) fail_msg("trial %d, n %zu, q %g: selected %g, sorted %g", trial, n, qs[k], got, want);
        }
    }
    assert_true(cv_drive_select(NULL, 0, 0.99) == 0);
}

static void test_attainment_counts_misses(void **state)
{
    /* 1000 arrivals: 990 completed of which 985 in time, 4 rejected, 3
     * expired, 2 failed, 1 unfinished: only the 985 meet. */
    assert_true(fabs(cv_drive_attainment(985, 1000) - 0.985) < 1e-12);
    assert_true(cv_drive_attainment(1000, 1000) == 1.0);
    assert_true(cv_drive_attainment(0, 5) == 0.0);
    assert_true(isnan(cv_drive_attainment(0, 0)));
    assert_true(cv_drive_ratio(3, 4) == 0.75 && cv_drive_ratio(5, 0) == 0);
}

static void test_highest_meeting(void **state)
{
    /* Unsorted loads; 400 misses, so 500's pass does not count. */
    cv_drive_point_t p[] = {{300, 0.995}, {100, 1.0}, {500, 0.999}, {400, 0.97}, {200, 0.9995}};
    int n = (int)(sizeof p / sizeof p[0]);
    assert_int_equal(cv_drive_highest_meeting(p, n, 0.99), 0);  /* 300 */
    assert_int_equal(cv_drive_highest_meeting(p, n, 0.999), 4); /* 200 */
    assert_int_equal(cv_drive_highest_meeting(p, n, 0.9999), 1); /* 100 */
    assert_int_equal(cv_drive_highest_meeting(p, n, 1.01), -1);  /* the lowest misses */
    assert_int_equal(cv_drive_highest_meeting(p, 0, 0.99), -1);
    /* Exactly at the target meets it. */
    cv_drive_point_t q[] = {{10, 0.99}, {20, 0.99}};
    assert_int_equal(cv_drive_highest_meeting(q, 2, 0.99), 1);
    /* NaN (nothing measured) never meets, and bounds what is above it. */
    cv_drive_point_t r[] = {{10, 1.0}, {20, NAN}, {30, 1.0}};
    assert_int_equal(cv_drive_highest_meeting(r, 3, 0.99), 0);
    /* Every load passing: the highest. */
    cv_drive_point_t s[] = {{50, 1.0}, {70, 0.999}, {60, 1.0}};
    assert_int_equal(cv_drive_highest_meeting(s, 3, 0.99), 1);
    /* Two runs at one load: both must meet. */
    cv_drive_point_t u[] = {{10, 1.0}, {20, 1.0}, {20, 0.5}, {30, 1.0}};
    assert_int_equal(cv_drive_highest_meeting(u, 4, 0.99), 0);
}

static void test_arrivals_reproducible(void **state)
{
    cv_drive_rng_t a, b;
    cv_drive_rng_seed(&a, 42);
    cv_drive_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) assert_true(cv_drive_exp_gap(&a, 100) == cv_drive_exp_gap(&b, 100));
    cv_drive_rng_seed(&b, 43);
    int same = 0;
    for (int i = 0; i < 100; i++) same += cv_drive_rng_next(&a) == cv_drive_rng_next(&b);
    assert_true(same == 0);
    for (int i = 0; i < 10000; i++) {
        double u = cv_drive_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
    }
}

static void test_exponential_gaps(void **state)
{
    /* Mean 1/rate and standard deviation 1/rate; P(gap > mean) = 1/e. */
    cv_drive_rng_t rng;
    cv_drive_rng_seed(&rng, 7);
    enum { N = 200000 };
    double rate = 250, sum = 0, sum2 = 0;
    int above = 0;
    for (int i = 0; i < N; i++) {
        double g = cv_drive_exp_gap(&rng, rate);
        assert_true(g >= 0 && isfinite(g));
        sum += g;
        sum2 += g * g;
        above += g > 1 / rate;
    }
    double mean = sum / N, sd = sqrt(sum2 / N - mean * mean);
    /* 5 standard errors: 1/sqrt(N) ~ 0.22% relative. */
    assert_true(fabs(mean * rate - 1) < 0.012);
    assert_true(fabs(sd * rate - 1) < 0.03);
    assert_true(fabs((double)above / N - exp(-1)) < 0.006);
}

static void test_pick_weighted(void **state)
{
    /* Weights 1, 0, 3, 4 (running sums 1, 1, 4, 8): tenant 1 never. */
    double cumulative[] = {1, 1, 4, 8};
    cv_drive_rng_t rng;
    cv_drive_rng_seed(&rng, 11);
    enum { N = 80000 };
    int count[4] = {0};
    for (int i = 0; i < N; i++) {
        int t = cv_drive_pick(&rng, cumulative, 4);
        assert_true(t >= 0 && t < 4);
        count[t]++;
    }
    assert_int_equal(count[1], 0);
    assert_true(fabs((double)count[0] / N - 1.0 / 8) < 0.006);
    assert_true(fabs((double)count[2] / N - 3.0 / 8) < 0.01);
    assert_true(fabs((double)count[3] / N - 4.0 / 8) < 0.01);
    /* Uniform: every tenant about 1/n. */
    double uniform[5] = {1, 2, 3, 4, 5};
    int u[5] = {0};
    for (int i = 0; i < N; i++) u[cv_drive_pick(&rng, uniform, 5)]++;
    for (int t = 0; t < 5; t++) assert_true(fabs((double)u[t] / N - 0.2) < 0.01);
    /* One tenant. */
    double single = 2.5;
    assert_int_equal(cv_drive_pick(&rng, &single, 1), 0);
}

static void test_parse_list(void **state)
{
    double v[4];
    int n = -1;
    assert_true(cv_drive_parse_list("100,250.5,1e3", 0, false, v, 4, &n));
    assert_int_equal(n, 3);
    assert_true(v[0] == 100 && v[1] == 250.5 && v[2] == 1000);
    assert_true(cv_drive_parse_list("7", 0, false, v, 1, &n) && n == 1 && v[0] == 7);
    assert_true(cv_drive_parse_list("0,2", 0, true, v, 4, &n) && n == 2);
    assert_false(cv_drive_parse_list("0,2", 0, false, v, 4, &n)); /* not > 0 */
    assert_false(cv_drive_parse_list("", 0, false, v, 4, &n));
    assert_false(cv_drive_parse_list("1,,2", 0, false, v, 4, &n));
    assert_false(cv_drive_parse_list("1,2,", 0, false, v, 4, &n));
    assert_false(cv_drive_parse_list("1;2", 0, false, v, 4, &n));
    assert_false(cv_drive_parse_list("fast", 0, false, v, 4, &n));
    assert_false(cv_drive_parse_list("-5", 0, false, v, 4, &n));
    assert_false(cv_drive_parse_list("inf", 0, false, v, 4, &n));
    assert_false(cv_drive_parse_list("nan", 0, false, v, 4, &n));
    assert_false(cv_drive_parse_list("1,2,3,4,5", 0, false, v, 4, &n)); /* too many */
    assert_false(cv_drive_parse_list("2", 2, false, v, 4, &n));
    assert_true(cv_drive_parse_list("2", 2, true, v, 4, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile_nearest_rank), cmocka_unit_test(test_select_matches_sort),
        cmocka_unit_test(test_attainment_counts_misses),
        cmocka_unit_test(test_highest_meeting),         cmocka_unit_test(test_arrivals_reproducible),
        cmocka_unit_test(test_exponential_gaps),        cmocka_unit_test(test_pick_weighted),
        cmocka_unit_test(test_parse_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
