/*
 * window.c: see window.h.
 */
#include "backend/window.h"

#include <string.h>

/* Strides, dilations and pads of nd spatial dims placed at the end of the
 * 3-D layout; in/out/k must be filled (1 where absent). */
static void resolve(const cv_node_t *node, int nd, const int64_t *in, const int64_t *out,
                    const int64_t *k, int64_t *s, int64_t *d, int64_t *pb, int64_t *pe)
{
    int off = 3 - nd, nstr, ndil, npad;
    const int64_t *str = cv_node_attr_ints(node, "strides", &nstr);
    const int64_t *dil = cv_node_attr_ints(node, "dilations", &ndil);
    const int64_t *pads = cv_node_attr_ints(node, "pads", &npad);
    const char *auto_pad = cv_node_attr_string(node, "auto_pad", "NOTSET");
    bool same = strncmp(auto_pad, "SAME_", 5) == 0, upper = strcmp(auto_pad, "SAME_UPPER") == 0;
    bool explicit_pads = !same && strcmp(auto_pad, "VALID") != 0 && pads && npad == 2 * nd;
    for (int i = 0; i < 3; i++) {
        s[i] = d[i] = 1;
        pb[i] = pe[i] = 0;
    }
    for (int i = 0; i < nd; i++) {
        int j = off + i;
        s[j] = str && nstr == nd ? str[i] : 1;
        d[j] = dil && ndil == nd ? dil[i] : 1;
        if (same) {
            int64_t total = (out[j] - 1) * s[j] + (k[j] - 1) * d[j] + 1 - in[j];
            if (total < 0) total = 0;
            pb[j] = upper ? total / 2 : total - total / 2;
            pe[j] = total - pb[j];
        } else if (explicit_pads) {
            pb[j] = pads[i];
            pe[j] = pads[nd + i];
        }
    }
}

/* in/out/k of nd spatial dims in the 3-D layout, 1 where absent. */
static void extents(int nd, const cv_shape_t *x, const cv_shape_t *y, const int64_t *kernel,
                    int64_t *in, int64_t *out, int64_t *k)
{
    for (int i = 0; i < 3; i++) in[i] = out[i] = k[i] = 1;
    for (int i = 0; i < nd; i++) {
        in[3 - nd + i] = x->dims[2 + i];
        out[3 - nd + i] = y->dims[2 + i];
        k[3 - nd + i] = kernel[i];
    }
}

void cv_conv_geometry(const cv_node_t *node, const cv_shape_t *x, const cv_shape_t *w,
                      const cv_shape_t *y, cv_conv_geometry_t *g)
{
    int nd = x->ndim - 2;
    CV_ASSERT(nd >= 1 && nd <= 3 && w->ndim == x->ndim);
    g->n = x->dims[0];
    g->c = x->dims[1];
    g->m = w->dims[0];
    g->group = cv_node_attr_int(node, "group", 1);
    g->cg = g->c / g->group;
    g->mg = g->m / g->group;
    int64_t pe[3];
    extents(nd, x, y, w->dims + 2, g->in, g->out, g->k);
    resolve(node, nd, g->in, g->out, g->k, g->s, g->d, g->p, pe);
}

cv_status cv_pool_geometry(const cv_node_t *node, const cv_shape_t *x, const cv_shape_t *y,
                           cv_pool_geometry_t *g, cv_err_t *err)
{
    int nd = x->ndim - 2, nk;
    if (nd < 1 || nd > 3)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "X has rank %d; %s needs 1 to 3 spatial dims",
                         x->ndim, cv_op_name(node->op));
    const int64_t *ks = cv_node_attr_ints(node, "kernel_shape", &nk);
    if (!ks || nk != nd)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "kernel_shape must have %d entries, one per spatial dim", nd);
    g->planes = x->dims[0] * x->dims[1];
    extents(nd, x, y, ks, g->in, g->out, g->k);
    resolve(node, nd, g->in, g->out, g->k, g->s, g->d, g->pb, g->pe);
    return CV_STATUS_OK;
}
