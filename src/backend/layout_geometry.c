/*
 * layout_geometry.c: see layout_geometry.h.
 */
#include "backend/layout_geometry.h"

#include "backend/cpu/cpu.h" /* cv_shape_strides, cv_broadcast_strides */
#include "ir/infer.h"

#include <stdio.h>
#include <string.h>

/* Reads the axes input (at most CV_MAX_DIMS entries) against `rank`:
 * each in [-rank, rank - 1], none twice; normalized into axes[]. */
static cv_status read_axes(const cv_tensor_t *t, const char *what, int rank, int *axes, int *n,
                           cv_err_t *err)
{
    int64_t raw[CV_MAX_DIMS];
    cv_status st = cv_const_ints(t, what, raw, CV_MAX_DIMS, n, err);
    if (st != CV_STATUS_OK) return st;
    bool seen[CV_MAX_DIMS] = {false};
    for (int i = 0; i < *n; i++) {
        if (raw[i] < -rank || raw[i] >= rank)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "%s entry %d is %lld, outside -%d..%d for rank %d", what, i,
                             (long long)raw[i], rank, rank - 1, rank);
        axes[i] = (int)(raw[i] < 0 ? raw[i] + rank : raw[i]);
        if (seen[axes[i]])
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s names axis %d twice", what,
                             axes[i]);
        seen[axes[i]] = true;
    }
    return CV_STATUS_OK;
}

/* A copy over the whole of `dims` (rank n), Y's strides row-major. */
static void region_over(const cv_shape_t *dims, cv_copy_region_t *r)
{
    memset(r, 0, sizeof *r);
    r->n = dims->ndim;
    memcpy(r->dims, dims->dims, sizeof(int64_t) * (size_t)dims->ndim);
    cv_shape_strides(dims, r->ds);
}

/* ---- Transpose -------------------------------------------------------- */

cv_status cv_transpose_geometry(const cv_node_t *node, const cv_shape_t *x,
                                cv_transpose_geometry_t *g, cv_err_t *err)
{
    int r = x->ndim, n;
    const int64_t *perm = cv_node_attr_ints(node, "perm", &n);
    if (perm && n != r)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Transpose's perm has %d entries for an input of rank %d", n, r);
    int64_t xs[CV_MAX_DIMS];
    bool seen[CV_MAX_DIMS] = {false};
    cv_shape_strides(x, xs);
    memset(g, 0, sizeof *g);
    g->out.ndim = r;
    for (int i = 0; i < r; i++) {
        int64_t p = perm ? perm[i] : r - 1 - i;
        if (p < 0 || p >= r || seen[p])
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Transpose's perm entry %d is %lld; perm must hold each of 0..%d "
                             "once",
                             i, (long long)p, r - 1);
        seen[p] = true;
        g->out.dims[i] = x->dims[p];
    }
    region_over(&g->out, &g->copy);
    for (int i = 0; i < r; i++) g->copy.ss[i] = xs[perm ? perm[i] : r - 1 - i];
    return CV_STATUS_OK;
}

/* ---- Concat ----------------------------------------------------------- */

cv_status cv_concat_geometry(const cv_node_t *node, const cv_shape_t *y, cv_concat_geometry_t *g,
                             cv_err_t *err)
{
    int64_t axis = cv_node_attr_int(node, "axis", 0);
    if (axis < -y->ndim || axis >= y->ndim)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Concat's axis %lld is out of range for rank %d", (long long)axis,
                         y->ndim);
    memset(g, 0, sizeof *g);
    g->out = *y;
    g->axis = (int)(axis < 0 ? axis + y->ndim : axis);
    cv_shape_strides(y, g->ys);
    return CV_STATUS_OK;
}

void cv_concat_next(cv_concat_geometry_t *g, const cv_shape_t *x, cv_copy_region_t *copy)
{
    CV_ASSERT(x->ndim == g->out.ndim && g->at + x->dims[g->axis] <= g->out.dims[g->axis]);
    region_over(x, copy);
    memcpy(copy->ss, copy->ds, sizeof copy->ss);
    memcpy(copy->ds, g->ys, sizeof(int64_t) * (size_t)x->ndim);
    copy->dst_at = g->at * g->ys[g->axis];
    g->at += x->dims[g->axis];
}

/* ---- Slice ------------------------------------------------------------ */

/* Clamps start s and end e of one axis of extent d by ONNX's rules and
 * returns how many elements the slice takes. */
static int64_t slice_axis(int64_t d, int64_t step, int64_t *s, int64_t *e)
{
    if (*s < 0) *s += d;
    if (*e < 0) *e += d;
    if (step > 0) {
        *s = CV_MAX(0, CV_MIN(*s, d));
        *e = CV_MAX(0, CV_MIN(*e, d));
        return *e > *s ? 1 + (*e - *s - 1) / step : 0;
    }
    *s = CV_MAX(-1, CV_MIN(*s, d - 1));
    *e = CV_MAX(-1, CV_MIN(*e, d - 1));
    int64_t mag = step == INT64_MIN ? INT64_MAX : -step;
    return *s > *e ? 1 + (*s - *e - 1) / mag : 0;
}

cv_status cv_slice_geometry(const cv_shape_t *x, const cv_tensor_t *starts_t,
                            const cv_tensor_t *ends_t, const cv_tensor_t *axes_t,
                            const cv_tensor_t *steps_t, cv_slice_geometry_t *g, cv_err_t *err)
{
    int r = x->ndim, n, ne, na, ns;
    int64_t starts[CV_MAX_DIMS], ends[CV_MAX_DIMS], steps[CV_MAX_DIMS];
    int axes[CV_MAX_DIMS];
    cv_status st;
    if (!starts_t || !ends_t)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Slice needs the inputs starts and ends");
    if ((st = cv_const_ints(starts_t, "Slice's starts", starts, CV_MAX_DIMS, &n, err)) !=
            CV_STATUS_OK ||
        (st = cv_const_ints(ends_t, "Slice's ends", ends, CV_MAX_DIMS, &ne, err)) != CV_STATUS_OK)
        return st;
    if (ne != n)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Slice's starts has %d entries but ends has %d", n, ne);
    if (axes_t) {
        if ((st = read_axes(axes_t, "Slice's axes", r, axes, &na, err)) != CV_STATUS_OK) return st;
        if (na != n)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Slice's axes has %d entries but starts has %d", na, n);
    } else {
        if (n > r)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Slice's starts has %d entries for rank %d (without axes, one per "
                             "leading axis)",
                             n, r);
        for (int i = 0; i < n; i++) axes[i] = i;
    }
    if (steps_t) {
        if ((st = cv_const_ints(steps_t, "Slice's steps", steps, CV_MAX_DIMS, &ns, err)) !=
            CV_STATUS_OK)
            return st;
        if (ns != n)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Slice's steps has %d entries but starts has %d", ns, n);
    } else {
        for (int i = 0; i < n; i++) steps[i] = 1;
    }
    memset(g, 0, sizeof *g);
    g->out = *x;
    for (int a = 0; a < r; a++) g->step[a] = 1;
    for (int i = 0; i < n; i++) {
        int a = axes[i];
        if (steps[i] == 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Slice's step for axis %d is 0", a);
        int64_t s = starts[i], e = ends[i];
        g->out.dims[a] = slice_axis(x->dims[a], steps[i], &s, &e);
        g->start[a] = s;
        g->step[a] = steps[i];
    }
    int64_t xs[CV_MAX_DIMS];
    cv_shape_strides(x, xs);
    region_over(&g->out, &g->copy);
    bool empty = cv_shape_numel(&g->out) == 0;
    for (int a = 0; a < r; a++) {
        if (!empty) g->copy.src_at += g->start[a] * xs[a];
        /* A step is only walked when more than one element is taken; a huge
         * step of a single-element slice must not overflow the stride. */
        g->copy.ss[a] = g->out.dims[a] > 1 ? xs[a] * g->step[a] : xs[a];
    }
    return CV_STATUS_OK;
}

/* ---- Split ------------------------------------------------------------ */

/* Checks the split input: one entry per output, each in 0..dim, summing
 * to dim. */
static cv_status check_split(const cv_tensor_t *split, int noutputs, int axis, int64_t dim,
                             cv_err_t *err)
{
    if (!split->data)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "Split's split input must be a constant (computed shapes are not "
                         "supported)");
    if (split->dtype != CV_DTYPE_INT64 && split->dtype != CV_DTYPE_INT32)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Split's split input must be INT64, not %s", cv_dtype_name(split->dtype));
    int64_t n = cv_shape_numel(&split->shape), sum = 0;
    if (n != noutputs)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Split's split input has %lld entries for %d outputs", (long long)n,
                         noutputs);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = cv_tensor_get_i64(split, i);
        if (v < 0 || v > dim)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Split's split entry %lld is %lld, outside 0..%lld", (long long)i,
                             (long long)v, (long long)dim);
        sum += v;
    }
    if (sum != dim)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Split's split sums to %lld, but dim %d has size %lld", (long long)sum,
                         axis, (long long)dim);
    return CV_STATUS_OK;
}

cv_status cv_split_geometry(const cv_node_t *node, const cv_shape_t *x, const cv_tensor_t *split,
                            int noutputs, cv_split_geometry_t *g, cv_err_t *err)
{
    int64_t axis = cv_node_attr_int(node, "axis", 0);
    if (axis < -x->ndim || axis >= x->ndim)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Split's axis %lld is out of range for an input of rank %d",
                         (long long)axis, x->ndim);
    if (noutputs < 1) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Split has no outputs");
    memset(g, 0, sizeof *g);
    g->axis = (int)(axis < 0 ? axis + x->ndim : axis);
    g->noutputs = noutputs;
    g->x = *x;
    g->dim = x->dims[g->axis];
    const cv_attr_t *num = cv_node_attr(node, "num_outputs");
    if (split && num)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Split has both the split input and the attribute num_outputs; ONNX "
                         "allows one");
    if (split) {
        cv_status st = check_split(split, noutputs, g->axis, g->dim, err);
        if (st != CV_STATUS_OK) return st;
        g->split = split;
    } else if (num) {
        int64_t count = cv_node_attr_int(node, "num_outputs", 0);
        if (count != noutputs)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Split's num_outputs %lld differs from its %d outputs",
                             (long long)count, noutputs);
        g->chunk = (g->dim + noutputs - 1) / noutputs;
    } else {
        if (g->dim % noutputs != 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Split cannot divide dim %d of size %lld into %d equal parts "
                             "(give split or num_outputs)",
                             g->axis, (long long)g->dim, noutputs);
        g->chunk = g->dim / noutputs;
    }
    return CV_STATUS_OK;
}

int64_t cv_split_size(const cv_split_geometry_t *g, int i)
{
    CV_ASSERT(i >= 0 && i < g->noutputs);
    if (g->split) return cv_tensor_get_i64(g->split, i);
    return CV_MAX(0, CV_MIN(g->chunk, g->dim - g->chunk * i));
}

bool cv_split_next(cv_split_geometry_t *g, const cv_shape_t *y, cv_copy_region_t *copy)
{
    int64_t size = cv_split_size(g, g->next++), at = g->at;
    g->at += size;
    if (!y) return false;
    CV_ASSERT(y->ndim == g->x.ndim && y->dims[g->axis] == size);
    region_over(y, copy);
    cv_shape_strides(&g->x, copy->ss);
    copy->src_at = at * copy->ss[g->axis];
    return true;
}

/* ---- Expand ----------------------------------------------------------- */

void cv_expand_copy(const cv_shape_t *x, const cv_shape_t *y, cv_copy_region_t *copy)
{
    region_over(y, copy);
    cv_broadcast_strides(x, y, copy->ss);
}

/* ---- Tile ------------------------------------------------------------- */

cv_status cv_tile_geometry(const cv_shape_t *x, const cv_tensor_t *repeats, cv_tile_geometry_t *g,
                           cv_err_t *err)
{
    int r = x->ndim, n;
    int64_t reps[CV_MAX_DIMS];
    if (!repeats) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Tile needs the input repeats");
    cv_status st = cv_const_ints(repeats, "Tile's repeats", reps, CV_MAX_DIMS, &n, err);
    if (st != CV_STATUS_OK) return st;
    if (n != r)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Tile's repeats has %d entries for an input of rank %d", n, r);
    memset(g, 0, sizeof *g);
    g->out = *x;
    for (int a = 0; a < r; a++) {
        if (reps[a] < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Tile's repeats entry %d is %lld", a,
                             (long long)reps[a]);
        if (__builtin_mul_overflow(x->dims[a], reps[a], &g->out.dims[a]))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Tile's output is too large");
    }
    int64_t xs[CV_MAX_DIMS], ys[CV_MAX_DIMS];
    cv_shape_strides(x, xs);
    cv_shape_strides(&g->out, ys);
    cv_copy_region_t *c = &g->copy;
    c->n = 2 * r;
    for (int a = 0; a < r; a++) {
        c->dims[2 * a] = reps[a];
        c->ds[2 * a] = x->dims[a] * ys[a];
        c->ss[2 * a] = 0;
        c->dims[2 * a + 1] = x->dims[a];
        c->ds[2 * a + 1] = ys[a];
        c->ss[2 * a + 1] = xs[a];
    }
    return CV_STATUS_OK;
}

/* ---- Gather ----------------------------------------------------------- */

cv_status cv_gather_geometry(const cv_node_t *node, const cv_shape_t *x, const cv_tensor_t *indices,
                             const cv_tensor_t *values, cv_gather_geometry_t *g, cv_err_t *err)
{
    int r = x->ndim;
    int64_t axis = cv_node_attr_int(node, "axis", 0);
    if (r < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Gather's data is a scalar; it needs rank >= 1");
    if (axis < -r || axis >= r)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Gather's axis %lld is out of range for data of rank %d",
                         (long long)axis, r);
    if (indices->dtype != CV_DTYPE_INT64 && indices->dtype != CV_DTYPE_INT32)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Gather's indices must be INT64 or INT32, not %s",
                         cv_dtype_name(indices->dtype));
    g->axis = (int)(axis < 0 ? axis + r : axis);
    g->outer = g->inner = 1;
    g->d = x->dims[g->axis];
    g->nidx = cv_shape_numel(&indices->shape);
    for (int i = 0; i < g->axis; i++) g->outer *= x->dims[i];
    for (int i = g->axis + 1; i < r; i++) g->inner *= x->dims[i];
    for (int64_t k = 0; values && k < g->nidx; k++) {
        int64_t v = cv_tensor_get_i64(values, k);
        if (v < -g->d || v >= g->d)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Gather index %lld is out of range for dim %d of size %lld",
                             (long long)v, g->axis, (long long)g->d);
    }
    return CV_STATUS_OK;
}

/* ---- ReduceMean, ReduceSum ------------------------------------------- */

cv_status cv_reduce_axes(const cv_node_t *node, const cv_shape_t *x, const cv_tensor_t *axes_t,
                         bool *reduced, bool *noop, cv_err_t *err)
{
    int r = x->ndim, axes[CV_MAX_DIMS], n = 0;
    char what[64];
    snprintf(what, sizeof what, "%s's axes", cv_op_name(node->op));
    cv_status st = axes_t ? read_axes(axes_t, what, r, axes, &n, err) : CV_STATUS_OK;
    if (st != CV_STATUS_OK) return st;
    *noop = n == 0 && cv_node_attr_int(node, "noop_with_empty_axes", 0) != 0;
    for (int a = 0; a < r; a++) reduced[a] = n == 0 && !*noop;
    for (int i = 0; i < n; i++) reduced[axes[i]] = true;
    return CV_STATUS_OK;
}

/* ---- Pad -------------------------------------------------------------- */

static cv_status pad_mode(const char *mode, cv_pad_mode_t *out, cv_err_t *err)
{
    static const char *const names[] = {"constant", "reflect", "edge", "wrap"};
    for (int m = 0; m < (int)CV_ARRAY_LEN(names); m++)
        if (strcmp(mode, names[m]) == 0) {
            *out = (cv_pad_mode_t)m;
            return CV_STATUS_OK;
        }
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                     "Pad mode '%s' is not one of constant, reflect, edge, wrap", mode);
}

/* constant_value: absent or empty (fill 0), or one element of X's dtype. */
static cv_status pad_value(const cv_tensor_t *value, cv_dtype_t dtype, bool *has_value,
                           cv_err_t *err)
{
    int64_t n = value ? cv_shape_numel(&value->shape) : 0;
    *has_value = n == 1;
    if (n > 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Pad's constant_value must be one element, not %lld", (long long)n);
    if (n == 1 && value->dtype != dtype)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Pad's constant_value is %s but the data is %s",
                         cv_dtype_name(value->dtype), cv_dtype_name(dtype));
    return CV_STATUS_OK;
}

cv_status cv_pad_geometry(const cv_node_t *node, const cv_tensor_t *x, const cv_tensor_t *pads_t,
                          const cv_tensor_t *value, const cv_tensor_t *axes_t, cv_pad_geometry_t *g,
                          cv_err_t *err)
{
    const char *mode = cv_node_attr_string(node, "mode", "constant");
    int r = x->shape.ndim, axes[CV_MAX_DIMS], na = r, np;
    int64_t pads[2 * CV_MAX_DIMS];
    memset(g, 0, sizeof *g);
    cv_status st = pad_mode(mode, &g->mode, err);
    if (st != CV_STATUS_OK) return st;
    if (!pads_t) return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Pad needs the input pads");
    if ((st = cv_const_ints(pads_t, "Pad's pads", pads, 2 * CV_MAX_DIMS, &np, err)) != CV_STATUS_OK)
        return st;
    if (axes_t) {
        if ((st = read_axes(axes_t, "Pad's axes", r, axes, &na, err)) != CV_STATUS_OK) return st;
    } else {
        for (int i = 0; i < r; i++) axes[i] = i;
    }
    if (np != 2 * na)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                         "Pad's pads has %d entries, expected %d (2 per axis%s)", np, 2 * na,
                         axes_t ? " of axes" : ", rank of the data");
    if ((st = pad_value(value, x->dtype, &g->has_value, err)) != CV_STATUS_OK) return st;
    int64_t pb[CV_MAX_DIMS] = {0}, pe[CV_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) {
        pb[axes[i]] = pads[i];
        pe[axes[i]] = pads[na + i];
    }
    g->ndim = r;
    cv_shape_strides(&x->shape, g->xs);
    for (int a = 0; a < r; a++) {
        int64_t d = x->shape.dims[a];
        if (__builtin_add_overflow(d, pb[a], &g->out[a]) ||
            __builtin_add_overflow(g->out[a], pe[a], &g->out[a]) || g->out[a] < 0)
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Pad's pads %lld and %lld do not fit dim %d of size %lld",
                             (long long)pb[a], (long long)pe[a], a, (long long)d);
        g->pb[a] = CV_MAX(0, pb[a]);
        g->lo[a] = CV_MAX(0, -pb[a]);
        g->kept[a] = d - g->lo[a] - CV_MAX(0, -pe[a]);
        if (g->kept[a] > 0) continue;
        g->empty = true;
        if (g->mode != CV_PAD_MODE_CONSTANT && (pb[a] > 0 || pe[a] > 0))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Pad mode '%s' cannot pad dim %d, which has no elements", mode, a);
    }
    return CV_STATUS_OK;
}
