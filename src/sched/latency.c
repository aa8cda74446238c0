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
    m->ns = cv_calloc((size_t)max_rows + 1, sizeof(double));
    return m->ns ? CV_STATUS_OK : CV_STATUS_OUT_OF_MEMORY;
}

void cv_latency_free(cv_latency_t *m)
{
    cv_free(m->ns);
    m->ns = NULL;
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
}

double cv_latency_predict(const cv_latency_t *m, int64_t rows)
{
    if (rows < 1) rows = 1;
    int64_t r = rows > m->max_rows ? m->max_rows : rows;
    if (m->ns[r] > 0 && rows <= m->max_rows) return m->ns[r];
    int64_t lo = r, hi = r;
    while (lo >= 1 && m->ns[lo] <= 0) lo--;
    while (hi <= m->max_rows && m->ns[hi] <= 0) hi++;
    if (lo >= 1 && hi <= m->max_rows) /* between two measured widths */
        return m->ns[lo] + (m->ns[hi] - m->ns[lo]) * (double)(r - lo) / (double)(hi - lo);
    if (hi <= m->max_rows) { /* below the narrowest: no wave is faster than it */
        return m->ns[hi];
    }
    if (lo < 1) return 0; /* nothing measured */
    /* Past the widest measured: its time per row beyond the one before it. */
    int64_t below = lo - 1;
    while (below >= 1 && m->ns[below] <= 0) below--;
    double per_row = below >= 1 ? (m->ns[lo] - m->ns[below]) / (double)(lo - below) : m->ns[lo] / (double)lo;
    if (per_row < 0) per_row = 0;
    return m->ns[lo] + per_row * (double)(rows - lo);
}
