/*
 * strided.c: see strided.h.
 */
#include "backend/strided.h"

bool cv_walk_simplify(cv_walk_t *w, int ndim, const int64_t *dims, const int64_t *ds,
                      const int64_t *ss)
{
    CV_ASSERT(ndim <= CV_WALK_MAX);
    w->n = 0;
    for (int i = 0; i < ndim; i++)
        if (dims[i] == 0) return false;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] == 1) continue;
        int k = w->n - 1;
        if (k >= 0 && w->ds[k] == ds[i] * dims[i] && w->ss[k] == ss[i] * dims[i]) {
            w->dims[k] *= dims[i];
            w->ds[k] = ds[i];
            w->ss[k] = ss[i];
            continue;
        }
        w->dims[w->n] = dims[i];
        w->ds[w->n] = ds[i];
        w->ss[w->n] = ss[i];
        w->n++;
    }
    return true;
}
