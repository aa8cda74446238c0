/*
 * broadcast.c: see broadcast.h.
 */
#include "backend/broadcast.h"

#include "backend/cpu/cpu.h" /* cv_broadcast_strides */

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
