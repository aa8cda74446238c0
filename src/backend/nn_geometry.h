/*
 * nn_geometry.h: what the CPU and CUDA kernels of the neural-network ops
 * read from a node in the same way, computed once per step on the host:
 * the extents Softmax, LogSoftmax and LayerNormalization normalize over,
 * and the activation the IR folded into a Conv, Gemm or MatMul
 * (node->activation) as one clamp.
 * (Conv and pooling windows: window.h.)
 */
#ifndef CV_BACKEND_NN_GEOMETRY_H
#define CV_BACKEND_NN_GEOMETRY_H

#ifdef __cplusplus
extern "C" {
#endif

#include "ir/graph.h"

/* ---- Softmax, LogSoftmax ------------------------------------------------ */

/* X as [outer, len, inner]: each of outer * inner lines of len elements,
 * inner apart, is normalized on its own. */
typedef struct cv_softmax_geometry {
    int64_t outer, len, inner;
} cv_softmax_geometry_t;

/* From X's shape and the node's axis: before opset 13 X is coerced to 2-D
 * at the axis (default 1), so one line covers every dim from it on
 * (inner = 1); from opset 13 the axis (default -1) is the one dim
 * normalized over. INVALID_ARGUMENT when X is a scalar or the axis is
 * outside [-rank, rank - 1]. */
cv_status cv_softmax_geometry(const cv_node_t *node, const cv_shape_t *x, cv_softmax_geometry_t *g,
                              cv_err_t *err);

/* ---- LayerNormalization --------------------------------------------------- */

/* X as [outer, inner]: each of outer rows of inner elements (the dims from
 * the axis on, whose shape is `norm`) is normalized on its own. */
typedef struct cv_layer_norm_geometry {
    int axis; /* normalized */
    int64_t outer, inner;
    cv_shape_t norm; /* the normalized dims, which Scale and B broadcast to */
} cv_layer_norm_geometry_t;

/* From X's shape and the node's axis (default -1). INVALID_ARGUMENT when X
 * is a scalar or the axis is outside [-rank, rank - 1]. */
cv_status cv_layer_norm_geometry(const cv_node_t *node, const cv_shape_t *x,
                                 cv_layer_norm_geometry_t *g, cv_err_t *err);

/* ---- the fused activation ------------------------------------------------ */

/* min(max(v, lo), hi): Relu is [0, +inf), Clip [clip_min, clip_max]. */
typedef struct cv_clamp {
    bool active; /* false: no activation, leave the output as it is */
    float lo, hi;
} cv_clamp_t;

/* node->activation (with clip_min/clip_max for CLIP) as a clamp; open
 * bounds are +-inf. */
cv_clamp_t cv_activation_clamp(const cv_node_t *node);

/* Written so that NaN passes through, as it does through Relu and Clip;
 * lo > hi gives hi, as Clip's min(max(v, lo), hi) does. */
static inline CV_HOST_DEVICE float cv_clamp_f32(float v, float lo, float hi)
{
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return v;
}

#ifdef __cplusplus
}
#endif
#endif /* CV_BACKEND_NN_GEOMETRY_H */
