/*
 * window.h: the geometry of sliding-window steps (Conv, MaxPool,
 * AveragePool): sizes, strides, dilations and pads, with SAME_* pads
 * resolved from the output size, read once from the node and its shapes for
 * every backend's kernels. 1-D and 2-D windows are laid out as 3-D with
 * leading extents of 1.
 */
#ifndef CV_BACKEND_WINDOW_H
#define CV_BACKEND_WINDOW_H

#ifdef __cplusplus
extern "C" {
#endif

#include "ir/graph.h"

/* Spatial extents, D, H, W order; passed by value to CUDA kernels. */
typedef struct cv_window_dims {
    int64_t in[3], out[3], k[3], s[3], d[3], p[3]; /* input, output, kernel, stride, dilation, begin pad */
} cv_window_dims_t;

typedef struct cv_conv_geometry {
    int64_t n, c, m, group, cg, mg; /* rows, channels in/out, groups, per group */
    union {
        struct {
            int64_t in[3], out[3], k[3], s[3], d[3], p[3];
        };
        cv_window_dims_t dims;
    };
} cv_conv_geometry_t;

/* From shapes already validated by cv_infer_conv (X [N,C,...], W
 * [M,C/group,...], Y [N,M,...]) and the node's attributes. */
void cv_conv_geometry(const cv_node_t *node, const cv_shape_t *x, const cv_shape_t *w,
                      const cv_shape_t *y, cv_conv_geometry_t *g);

typedef struct cv_pool_geometry {
    int64_t planes;                         /* N*C */
    int64_t in[3], out[3];                  /* D, H, W; 1 where absent */
    int64_t k[3], s[3], d[3], pb[3], pe[3]; /* kernel, stride, dilation, begin/end pads */
} cv_pool_geometry_t;

/* From X [N,C,...], Y [N,C,...] and the node's attributes; INVALID_ARGUMENT
 * when X has no 1 to 3 spatial dims or kernel_shape does not match them. */
cv_status cv_pool_geometry(const cv_node_t *node, const cv_shape_t *x, const cv_shape_t *y,
                           cv_pool_geometry_t *g, cv_err_t *err);

#ifdef __cplusplus
}
#endif
#endif /* CV_BACKEND_WINDOW_H */
