/*
 * latency.c: the latency model of a family: how long a wave of r rows takes
 * (see sched.h). Widths are measured at load (1, 2, 4, ... rows) and every
 * wave refines its own width, weighted towards recent waves so that the
 * model follows the device's load (other families' waves share it).
 */
#include "sched/sched.h"

/* Weight of a new measurement: about the last eight waves of a width count. */
#define LATENCY_ALPHA 0.125

cv_status cv_latency_init(cv_latency_t *m, int max_rows)
{
    m->max_rows = max_rows;
    m->per_row = 0;
    m->ns = cv_calloc((size_t)max_rows + 1, sizeof(double));
    m->predicted = cv_calloc((size_t)max_rows + 1, sizeof(double));
    if (m->ns && m->predicted) return CV_STATUS_OK;
    cv_latency_free(m);
    return CV_STATUS_OUT_OF_MEMORY;
}

void cv_latency_free(cv_latency_t *m)
{
    cv_free(m->ns);
    cv_free(m->predicted);
    m->ns = m->predicted = NULL;
}

/* The prediction for r in [1, max_rows] rows from the measured widths. */
static double interpolate(const cv_latency_t *m, int64_t r)
{
    if (m->ns[r] > 0) return m->ns[r];
    int64_t lo = r, hi = r;
    while (lo >= 1 && m->ns[lo] <= 0) lo--;
    while (hi <= m->max_rows && m->ns[hi] <= 0) hi++;
    if (lo >= 1 && hi <= m->max_rows) /* between two measured widths */
        return m->ns[lo] + (m->ns[hi] - m->ns[lo]) * (double)(r - lo) / (double)(hi - lo);
    if (hi <= m->max_rows) return m->ns[hi]; /* below the narrowest: no wave is faster than it */
    if (lo < 1) return 0;                    /* nothing measured */
    return m->ns[lo] + m->per_row * (double)(r - lo);
}

/* Rebuilds the table of predictions after a measurement changed. */
static void rebuild(cv_latency_t *m)
{
    /* Past the widest measured: its time per row beyond the one before it. */
    int64_t lo = m->max_rows;
    while (lo >= 1 && m->ns[lo] <= 0) lo--;
    m->per_row = 0;
    if (lo >= 1) {
        int64_t below = lo - 1;
        while (below >= 1 && m->ns[below] <= 0) below--;
        m->per_row = below >= 1 ? (m->ns[lo] - m->ns[below]) / (double)(lo - below) : m->ns[lo] / (double)lo;
        if (m->per_row < 0) m->per_row = 0;
    }
    for (int64_t r = 1; r <= m->max_rows; r++) m->predicted[r] = interpolate(m, r);
    m->predicted[0] = m->predicted[1];
}

void cv_latency_observe(cv_latency_t *m, int64_t rows, double ns)
{
    if (rows < 1 || ns <= 0) return;
    if (rows > m->max_rows) rows = m->max_rows; /* a wave is never wider; be safe */
    double *at = &m->ns[rows];
    /* A wave far faster than the model says ends an overload the model
     * learned from: it catches up fast rather than over many waves. */
    double alpha = ns < *at / 2 ? 0.5 : LATENCY_ALPHA;
    *at = *at > 0 ? *at + alpha * (ns - *at) : ns;
    rebuild(m);
    m->version++;
}

double cv_latency_predict(const cv_latency_t *m, int64_t rows)
{
    if (rows <= m->max_rows) return m->predicted[rows < 1 ? 1 : rows];
    double widest = m->predicted[m->max_rows];
    return widest > 0 ? widest + m->per_row * (double)(rows - m->max_rows) : 0;
}
