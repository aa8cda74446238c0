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
    m->ceiling = cv_calloc((size_t)max_rows + 1, sizeof(double));
    if (m->ns && m->predicted && m->ceiling) return CV_STATUS_OK;
    cv_latency_free(m);
    return CV_STATUS_OUT_OF_MEMORY;
}

void cv_latency_free(cv_latency_t *m)
{
    cv_free(m->ns);
    cv_free(m->predicted);
    cv_free(m->ceiling);
    m->ns = m->predicted = m->ceiling = NULL;
}

/* Rebuilds the table of predictions after a measurement changed, in one
 * pass over the widths (each wave does it, so it must not cost a search
 * per width): between two measured widths, the straight line through
 * them; below the narrowest measured, its time (no wave is faster);
 * past the widest, its time plus the time per row beyond the measured
 * width before it; nothing measured, 0. Then the running maximum of
 * that (ceiling). */
static void rebuild(cv_latency_t *m)
{
    int64_t widest = m->max_rows;
    while (widest >= 1 && m->ns[widest] <= 0) widest--;
    m->per_row = 0;
    if (widest >= 1) {
        int64_t below = widest - 1;
        while (below >= 1 && m->ns[below] <= 0) below--;
        m->per_row = below >= 1 ? (m->ns[widest] - m->ns[below]) / (double)(widest - below)
                                : m->ns[widest] / (double)widest;
        if (m->per_row < 0) m->per_row = 0;
    }
    int64_t lo = 0; /* the last measured width so far, 0 before the first */
    for (int64_t r = 1; r <= m->max_rows; r++) {
        if (m->ns[r] <= 0) continue;
        for (int64_t k = lo + 1; k < r; k++)
            m->predicted[k] = lo ? m->ns[lo] + (m->ns[r] - m->ns[lo]) * (double)(k - lo) / (double)(r - lo)
                                 : m->ns[r];
        m->predicted[r] = m->ns[r];
        lo = r;
    }
    for (int64_t k = lo + 1; k <= m->max_rows; k++)
        m->predicted[k] = lo ? m->ns[lo] + m->per_row * (double)(k - lo) : 0;
    m->predicted[0] = m->predicted[1];
    m->ceiling[1] = m->predicted[1];
    for (int64_t r = 2; r <= m->max_rows; r++)
        m->ceiling[r] = m->predicted[r] > m->ceiling[r - 1] ? m->predicted[r] : m->ceiling[r - 1];
    m->ceiling[0] = m->ceiling[1];
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

double cv_latency_ceiling(const cv_latency_t *m, int64_t rows)
{
    if (rows <= m->max_rows) return m->ceiling[rows < 1 ? 1 : rows];
    /* Past max_rows predictions only grow (per_row >= 0). */
    double beyond = cv_latency_predict(m, rows);
    return beyond > m->ceiling[m->max_rows] ? beyond : m->ceiling[m->max_rows];
}
