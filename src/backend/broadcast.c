/*
 * broadcast.c: see broadcast.h.
 */
#include "backend/broadcast.h"

void cv_shape_strides(const cv_shape_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = shape->ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape->dims[i];
    }
}

void cv_broadcast_strides(const cv_shape_t *in, const cv_shape_t *out, int64_t *strides)
{
    int64_t own[CV_MAX_DIMS];
    cv_shape_strides(in, own);
    int pad = out->ndim - in->ndim;
    CV_ASSERT(pad >= 0);
    for (int i = 0; i < out->ndim; i++) {
        int j = i - pad;
        CV_ASSERT(j < 0 || in->dims[j] == 1 || in->dims[j] == out->dims[i]);
        strides[i] = (j < 0 || in->dims[j] == 1) ? 0 : own[j];
    }
}

void cv_broadcast_collapse(const cv_shape_t *const *ins, int nin, const cv_shape_t *out,
                           cv_broadcast_t *bc)
{
    CV_ASSERT(nin >= 1 && nin <= CV_BROADCAST_OPERANDS);
    int64_t full[CV_BROADCAST_OPERANDS][CV_MAX_DIMS];
    for (int k = 0; k < nin; k++) cv_broadcast_strides(ins[k], out, full[k]);
    bc->nin = nin;
    bc->ndim = 0;
    for (int d = 0; d < out->ndim; d++) {
        if (out->dims[d] == 1) continue;
        if (bc->ndim > 0) {
            int last = bc->ndim - 1;
            bool mergeable = true;
            for (int k = 0; k < nin; k++)
                if (bc->strides[k][last] != full[k][d] * out->dims[d]) mergeable = false;
            if (mergeable) {
                bc->dims[last] *= out->dims[d];
                for (int k = 0; k < nin; k++) bc->strides[k][last] = full[k][d];
                continue;
            }
        }
        bc->dims[bc->ndim] = out->dims[d];
        for (int k = 0; k < nin; k++) bc->strides[k][bc->ndim] = full[k][d];
        bc->ndim++;
    }
    if (bc->ndim == 0) {
        bc->ndim = 1;
        bc->dims[0] = 1;
        for (int k = 0; k < nin; k++) bc->strides[k][0] = 0;
    }
}
