/*
 * conv_geometry.c: see conv_geometry.h.
 */
#include "backend/conv_geometry.h"

#include <string.h>

void cv_conv_geometry(const cv_node_t *node, const cv_shape_t *x, const cv_shape_t *w,
                      const cv_shape_t *y, cv_conv_geometry_t *g)
{
    int nd = x->ndim - 2, off = 3 - nd;
    CV_ASSERT(nd >= 1 && nd <= 3 && w->ndim == x->ndim);
    g->n = x->dims[0];
    g->c = x->dims[1];
    g->m = w->dims[0];
    g->group = cv_node_attr_int(node, "group", 1);
    g->cg = g->c / g->group;
    g->mg = g->m / g->group;
    int nstr, ndil, npad;
    const int64_t *str = cv_node_attr_ints(node, "strides", &nstr);
    const int64_t *dil = cv_node_attr_ints(node, "dilations", &ndil);
    const int64_t *pads = cv_node_attr_ints(node, "pads", &npad);
    const char *auto_pad = cv_node_attr_string(node, "auto_pad", "NOTSET");
    bool same = strncmp(auto_pad, "SAME_", 5) == 0, upper = strcmp(auto_pad, "SAME_UPPER") == 0;
    bool explicit_pads = !same && strcmp(auto_pad, "VALID") != 0 && pads;
    for (int i = 0; i < 3; i++) {
        g->in[i] = g->out[i] = g->k[i] = g->s[i] = g->d[i] = 1;
        g->p[i] = 0;
    }
    for (int i = 0; i < nd; i++) {
        int j = off + i;
        g->in[j] = x->dims[2 + i];
        g->out[j] = y->dims[2 + i];
        g->k[j] = w->dims[2 + i];
        g->s[j] = str && nstr == nd ? str[i] : 1;
        g->d[j] = dil && ndil == nd ? dil[i] : 1;
        if (same) {
            int64_t total = (g->out[j] - 1) * g->s[j] + (g->k[j] - 1) * g->d[j] + 1 - g->in[j];
            if (total < 0) total = 0;
            g->p[j] = upper ? total / 2 : total - total / 2;
        } else if (explicit_pads && npad == 2 * nd) {
            g->p[j] = pads[i];
        }
    }
}
