/*
 * drive_stats.h: the pure computations of `caravel drive` (cmd_drive.c),
 * kept apart from its threads and the runtime so that a unit test
 * (tests/unit/test_drive_stats.c) can check each against known answers:
 * the seeded arrival sequence (exponential gaps, weighted tenants),
 * percentiles over a sample, SLO attainment, and a sweep's highest load
 * that still meets an attainment target. Also the parser of the option
 * lists (--rates 100,200 ...).
 *
 * Nothing here allocates, locks or reads a clock.
 */
#ifndef CV_DRIVE_STATS_H
#define CV_DRIVE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the arrival sequence ------------------------------------------------ */

/* A seeded generator (splitmix64): the same seed gives the same arrivals,
 * whatever the policy under test, so that policies see one sequence. */
typedef struct cv_drive_rng {
    uint64_t state;
} cv_drive_rng_t;

void cv_drive_rng_seed(cv_drive_rng_t *rng, uint64_t seed);
uint64_t cv_drive_rng_next(cv_drive_rng_t *rng);
/* Uniform in [0, 1), 53 bits. */
double cv_drive_rng_uniform(cv_drive_rng_t *rng);

/* The gap to the next arrival of a Poisson process of `rate` arrivals per
 * second: exponential with mean 1 / rate, in seconds. rate > 0. */
double cv_drive_exp_gap(cv_drive_rng_t *rng, double rate);

/* A tenant drawn with probability weight[i] / sum: `cumulative` holds the
 * running sums of the weights (cumulative[n - 1] = sum > 0). Uniform
 * tenants are cumulative[i] = i + 1. Returns 0..n-1. */
int cv_drive_pick(cv_drive_rng_t *rng, const double *cumulative, int n);

/* ---- a run's numbers --------------------------------------------------- */

/* The q-quantile (0 <= q <= 1) of n samples sorted ascending, by nearest
 * rank: the smallest sample with at least q * n samples at or below it
 * (so p99.9 of fewer than 1000 samples is their maximum). 0 when n = 0. */
double cv_drive_percentile(const double *sorted, size_t n, double q);
/* Sorts n samples ascending in place (for cv_drive_percentile). */
void cv_drive_sort(double *samples, size_t n);
/* cv_drive_percentile's value for n unsorted samples, found by selection
 * in O(n) (the samples are reordered): for a progress line, which must not
 * sort millions of samples every second beside the runtime it measures. */
double cv_drive_select(double *samples, size_t n, double q);

/* SLO attainment: requests that completed within their deadline over every
 * arrival, so that rejections at the door, expiries and failures all count
 * as misses. NaN when there were no arrivals (nothing was measured, which
 * meets no target). */
double cv_drive_attainment(long met, long arrivals);

/* part / whole, 0 when whole is 0 (a share such as fused / completed). */
double cv_drive_ratio(long part, long whole);

/* ---- sweeps ------------------------------------------------------------ */

/* One run of a sweep: the load offered (requests per second, or the
 * concurrency of a closed loop) and the SLO attainment measured. */
typedef struct cv_drive_point {
    double load;
    double attainment;
} cv_drive_point_t;

/* The highest load at which attainment still meets `target`: the index of
 * the point of highest load such that it and every point of lower or equal
 * load meet the target (attainment >= target; NaN never does). Loads need
 * not be sorted. -1 when the lowest load already misses, or n = 0. A miss
 * at a low load is not excused by a lucky pass above it: the answer is the
 * load below which the policy was seen to hold. */
int cv_drive_highest_meeting(const cv_drive_point_t *points, int n, double target);

/* ---- option lists ------------------------------------------------------ */

/* Parses "v1,v2,..." of numbers > min (or >= min when `inclusive`) into
 * out[0..max). False (writing nothing useful to *n) on an empty item,
 * a non-number, a value out of range, or more than `max` items. */
bool cv_drive_parse_list(const char *s, double min, bool inclusive, double *out, int max, int *n);

#endif
