/*
 * broadcast.h: numpy broadcasting as the elementwise kernels of every
 * backend walk it. The output's dims are collapsed wherever every operand
 * stays contiguous (or stays broadcast) across neighbouring dims, with each
 * operand's element stride per remaining dim (0 where it is broadcast), so
 * that the innermost run of each operand has a step of 1 or 0: same shapes
 * become one run over the whole tensor, [N,C,H,W] with [C,1,1] becomes N*C
 * runs of H*W against a scalar, [.., W] with [W] runs of W against a vector.
 *
 * Computed once per step on the host; the CPU loops over it directly, CUDA
 * kernels receive it (or a simpler index form derived from it) by value.
 * Not here: checking that shapes broadcast (shape inference did), the
 * per-dim strides it starts from (cv_broadcast_strides).
 */
#ifndef CV_BACKEND_BROADCAST_H
#define CV_BACKEND_BROADCAST_H

#ifdef __cplusplus
extern "C" {
#endif

#include "ir/graph.h"

/* Operands of the widest broadcasting op (Where). */
#define CV_BROADCAST_OPERANDS 3

typedef struct cv_broadcast {
    int ndim, nin;
    int64_t dims[CV_MAX_DIMS];                           /* collapsed output dims */
    int64_t strides[CV_BROADCAST_OPERANDS][CV_MAX_DIMS]; /* per operand, in elements */
} cv_broadcast_t;

/* Collapses the output's dims for operands ins[0..nin) (1 to
 * CV_BROADCAST_OPERANDS shapes that broadcast to `out`, as inference
 * checked): extent-1 dims vanish, and a dim merges into its outer
 * neighbour when every operand's stride stays continuous across them
 * (contiguous, or 0 on both). A scalar output (or one of only 1s) becomes
 * one dim of extent 1 with stride 0 for every operand, so bc->ndim >= 1
 * always. A zero extent is kept (the output is empty). */
void cv_broadcast_collapse(const cv_shape_t *const *ins, int nin, const cv_shape_t *out,
                           cv_broadcast_t *bc);

#ifdef __cplusplus
}
#endif
#endif /* CV_BACKEND_BROADCAST_H */
