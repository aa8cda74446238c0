/*
 * nn_geometry.c: see nn_geometry.h.
 */
#include "backend/nn_geometry.h"

#include <math.h>
#include <string.h>

cv_status cv_softmax_geometry(const cv_node_t *node, const cv_shape_t *x, cv_softmax_geometry_t *g,
                              cv_err_t *err)
{
    int r = x->ndim;
    const char *op = cv_op_name(node->op);
    if (r < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "%s's input is a scalar; it needs rank >= 1", op);
    bool legacy = node->opset < 13;
    int64_t a = cv_node_attr_int(node, "axis", legacy ? 1 : -1);
    if (a < -r || a >= r)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "%s's axis %lld is outside -%d..%d for an input of rank %d", op,
                         (long long)a, r, r - 1, r);
    int axis = (int)(a < 0 ? a + r : a);
    g->outer = g->len = g->inner = 1;
    for (int i = 0; i < axis; i++) g->outer *= x->dims[i];
    if (legacy) {
        for (int i = axis; i < r; i++) g->len *= x->dims[i];
    } else {
        g->len = x->dims[axis];
        for (int i = axis + 1; i < r; i++) g->inner *= x->dims[i];
    }
    return CV_STATUS_OK;
}

cv_status cv_layer_norm_geometry(const cv_node_t *node, const cv_shape_t *x,
                                 cv_layer_norm_geometry_t *g, cv_err_t *err)
{
    int r = x->ndim;
    if (r < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "LayerNormalization's X is a scalar; it needs rank >= 1");
    int64_t a = cv_node_attr_int(node, "axis", -1);
    if (a < -r || a >= r)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "LayerNormalization's axis %lld is outside -%d..%d for X of rank %d",
                         (long long)a, r, r - 1, r);
    memset(g, 0, sizeof *g);
    g->axis = (int)(a < 0 ? a + r : a);
    g->norm.ndim = r - g->axis;
    memcpy(g->norm.dims, x->dims + g->axis, sizeof(int64_t) * (size_t)g->norm.ndim);
    g->inner = cv_shape_numel(&g->norm);
    g->outer = 1;
    for (int i = 0; i < g->axis; i++) g->outer *= x->dims[i];
    return CV_STATUS_OK;
}

cv_clamp_t cv_activation_clamp(const cv_node_t *node)
{
    cv_clamp_t c = {false, -INFINITY, INFINITY};
    if (node->activation == CV_ACTIVATION_RELU) {
        c.active = true;
        c.lo = 0.0f;
    } else if (node->activation == CV_ACTIVATION_CLIP) {
        c.active = true;
        c.lo = node->clip_min;
        c.hi = node->clip_max;
    }
    return c;
}
