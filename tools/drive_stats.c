/*
 * drive_stats.c: arrivals, percentiles, attainment and sweeps for
 * `caravel drive` (see drive_stats.h).
 */
#include "drive_stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

void cv_drive_rng_seed(cv_drive_rng_t *rng, uint64_t seed) { rng->state = seed; }

uint64_t cv_drive_rng_next(cv_drive_rng_t *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double cv_drive_rng_uniform(cv_drive_rng_t *rng) { return (double)(cv_drive_rng_next(rng) >> 11) * 0x1.0p-53; }

double cv_drive_exp_gap(cv_drive_rng_t *rng, double rate)
{
    /* 1 - u is in (0, 1], so the logarithm is finite. */
    return -log(1.0 - cv_drive_rng_uniform(rng)) / rate;
}

int cv_drive_pick(cv_drive_rng_t *rng, const double *cumulative, int n)
{
    double x = cv_drive_rng_uniform(rng) * cumulative[n - 1];
    /* The first i with cumulative[i] > x; a tenant of weight 0 has
     * cumulative[i] == cumulative[i - 1] and is never it. */
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (cumulative[mid] > x) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

static size_t rank_of(size_t n, double q);

double cv_drive_percentile(const double *sorted, size_t n, double q)
{
    if (n == 0) return 0;
    /* ceil(q * n) - 1, guarding against q * n landing a hair above an
     * integer through rounding (0.99 * 100 = 99.00000000000001). */
    return sorted[rank_of(n, q)];
}

/* The rank cv_drive_percentile reads: ceil(q * n) - 1, clamped. */
static size_t rank_of(size_t n, double q)
{
    if (q <= 0) return 0;
    double rank = ceil(q * (double)n - 1e-9);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    return i < n ? i : n - 1;
}

double cv_drive_select(double *v, size_t n, double q)
{
    if (n == 0) return 0;
    size_t k = rank_of(n, q), lo = 0, hi = n - 1;
    /* Hoare-style quickselect, median-of-three pivots: v[k] ends up the
     * k-th smallest. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], c = v[hi];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return v[k];
    }
    return v[k];
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void cv_drive_sort(double *samples, size_t n)
{
    if (n > 1) qsort(samples, n, sizeof(double), compare_double);
}

double cv_drive_attainment(long met, long arrivals) { return arrivals > 0 ? (double)met / (double)arrivals : NAN; }

double cv_drive_ratio(long part, long whole) { return whole > 0 ? (double)part / (double)whole : 0; }

static bool meets(const cv_drive_point_t *p, double target) { return !isnan(p->attainment) && p->attainment >= target; }

int cv_drive_highest_meeting(const cv_drive_point_t *points, int n, double target)
{
    /* The lowest load that misses bounds the answer from above. */
    bool any_miss = false;
    double lowest_miss = 0;
    for (int i = 0; i < n; i++)
        if (!meets(&points[i], target) && (!any_miss || points[i].load < lowest_miss)) {
            lowest_miss = points[i].load;
            any_miss = true;
        }
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (!meets(&points[i], target) || (any_miss && points[i].load >= lowest_miss)) continue;
        if (best < 0 || points[i].load > points[best].load) best = i;
    }
    return best;
}

bool cv_drive_parse_list(const char *s, double min, bool inclusive, double *out, int max, int *n)
{
    int count = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || (inclusive ? v < min : v <= min)) return false;
        if (count == max) return false;
        out[count++] = v;
        if (*end == '\0') break;
        if (*end != ',') return false;
        p = end + 1;
    }
    *n = count;
    return true;
}
