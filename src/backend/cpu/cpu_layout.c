/*
 * cpu_layout.c: CPU kernels of the layout, shape and reduction operators
 * (Reshape ... ReduceSum in op.h); their shape inference is in
 * src/ir/infer_layout.c.
 *
 * Most of these operators only move elements. They work on element size
 * (1, 2, 4 or 8 bytes), never on the dtype, so every dtype takes one path.
 * Slice, Transpose, Concat, Split, Expand, Tile and constant Pad are all one
 * strided copy (strided_copy): an output region walked with source strides.
 * It first merges axes that are contiguous in both source and destination,
 * so most real cases become a few long memcpy runs; a transposition of the
 * two innermost axes is copied in cache-sized tiles. What Slice, Split, Tile
 * and Pad take from their constant inputs and attributes is read by
 * src/backend/layout_geometry.c, for the CUDA kernels too.
 *
 * The reductions have a FP32 path with contiguous inner loops and a generic
 * one (double or int64 accumulators) for the other numeric dtypes.
 */
#include "backend/cpu/cpu.h"
#include "backend/layout_geometry.h"
#include "backend/strided.h"
#include "ir/infer.h"

#include <math.h>
#include <string.h>

#define TILE 32

/* ---- helpers ------------------------------------------------------------ */

static const cv_tensor_t *in_at(const cv_op_args_t *args, int i)
{
    return i < args->ninputs ? args->inputs[i] : NULL;
}

static cv_tensor_t *out_at(const cv_op_args_t *args, int i)
{
    return i < args->noutputs ? args->outputs[i] : NULL;
}

static void copy_view(const cv_tensor_t *in, cv_tensor_t *out)
{
    CV_ASSERT(cv_tensor_nbytes(in) == cv_tensor_nbytes(out));
    if (out->data != in->data) memcpy(out->data, in->data, cv_tensor_nbytes(in));
}

/* Writes `count` copies of the element at `value` (es bytes). */
static void fill_elems(void *dst, size_t es, int64_t count, const void *value)
{
#define FILL(T)                                                                          \
    do {                                                                                 \
        T v;                                                                             \
        memcpy(&v, value, sizeof v);                                                     \
        T *d = dst;                                                                      \
        for (int64_t i = 0; i < count; i++) d[i] = v;                                    \
    } while (0)
    switch (es) {
    case 1: memset(dst, *(const unsigned char *)value, (size_t)count); break;
    case 2: FILL(uint16_t); break;
    case 4: FILL(uint32_t); break;
    case 8: FILL(uint64_t); break;
    default: CV_ASSERT(!"element size");
    }
#undef FILL
}

/* ---- the strided copy --------------------------------------------------- */


/* Steps the counter idx over axes [0, n) of w except `skip`, moving both
 * offsets; false once every position was visited. */
static bool walk_next(const cv_walk_t *w, int n, int skip, int64_t *idx, int64_t *doff,
                      int64_t *soff)
{
    for (int a = n - 1; a >= 0; a--) {
        if (a == skip) continue;
        *doff += w->ds[a];
        *soff += w->ss[a];
        if (++idx[a] < w->dims[a]) return true;
        *doff -= w->ds[a] * w->dims[a];
        *soff -= w->ss[a] * w->dims[a];
        idx[a] = 0;
    }
    return false;
}

#define ROW_COPY(T)                                                                      \
    do {                                                                                 \
        T *dp = (T *)(d + doff * (int64_t)es);                                           \
        const T *sp = (const T *)(s + soff * (int64_t)es);                               \
        for (int64_t j = 0; j < len; j++) dp[j * dsl] = sp[j * ssl];                     \
    } while (0)

#define TILE_COPY(T)                                                                     \
    do {                                                                                 \
        T *dp = (T *)(d + doff * (int64_t)es);                                           \
        const T *sp = (const T *)(s + soff * (int64_t)es);                               \
        for (int64_t i0 = 0; i0 < ni; i0 += TILE)                                        \
            for (int64_t j0 = 0; j0 < nj; j0 += TILE) {                                  \
                int64_t i1 = CV_MIN(i0 + TILE, ni), j1 = CV_MIN(j0 + TILE, nj);          \
                for (int64_t i = i0; i < i1; i++)                                        \
                    for (int64_t j = j0; j < j1; j++)                                    \
                        dp[i * dsi + j * dsj] = sp[i * ssi + j * ssj];                   \
            }                                                                            \
    } while (0)

/* Copies the region `dims` from src (strides ss) to dst (strides ds); both
 * pointers address the region's first element; es is the element size. */
static void strided_copy(size_t es, int ndim, const int64_t *dims, void *dst, const int64_t *ds,
                         const void *src, const int64_t *ss)
{
    cv_walk_t w;
    if (!cv_walk_simplify(&w, ndim, dims, ds, ss)) return;
    char *d = dst;
    const char *s = src;
    if (w.n == 0) {
        memcpy(d, s, es);
        return;
    }
    int last = w.n - 1;
    int64_t idx[CV_WALK_MAX] = {0}, doff = 0, soff = 0;
    if (w.ds[last] == 1 && w.ss[last] == 1) {
        size_t run = (size_t)w.dims[last] * es;
        do {
            memcpy(d + doff * (int64_t)es, s + soff * (int64_t)es, run);
        } while (walk_next(&w, last, -1, idx, &doff, &soff));
        return;
    }
    /* Source contiguous along another axis k than the destination's: copy
     * (k, last) in tiles so that both sides stay in cache. */
    int k = -1;
    for (int a = 0; a < last; a++)
        if (w.ss[a] == 1) k = a;
    if (k >= 0) {
        int64_t ni = w.dims[k], nj = w.dims[last];
        int64_t dsi = w.ds[k], dsj = w.ds[last], ssi = w.ss[k], ssj = w.ss[last];
        do {
            CV_FOR_ELEMENT_SIZE(es, TILE_COPY);
        } while (walk_next(&w, last, k, idx, &doff, &soff));
        return;
    }
    int64_t len = w.dims[last], dsl = w.ds[last], ssl = w.ss[last];
    do {
        CV_FOR_ELEMENT_SIZE(es, ROW_COPY);
    } while (walk_next(&w, last, -1, idx, &doff, &soff));
}

/* ---- view ops ----------------------------------------------------------- */

cv_status cv_cpu_reshape(const cv_op_args_t *args, cv_err_t *err)
{
    copy_view(args->inputs[0], args->outputs[0]);
    return CV_STATUS_OK;
}

cv_status cv_cpu_flatten(const cv_op_args_t *args, cv_err_t *err)
{
    copy_view(args->inputs[0], args->outputs[0]);
    return CV_STATUS_OK;
}

cv_status cv_cpu_squeeze(const cv_op_args_t *args, cv_err_t *err)
{
    copy_view(args->inputs[0], args->outputs[0]);
    return CV_STATUS_OK;
}

cv_status cv_cpu_unsqueeze(const cv_op_args_t *args, cv_err_t *err)
{
    copy_view(args->inputs[0], args->outputs[0]);
    return CV_STATUS_OK;
}

cv_status cv_cpu_identity(const cv_op_args_t *args, cv_err_t *err)
{
    copy_view(args->inputs[0], args->outputs[0]);
    return CV_STATUS_OK;
}

cv_status cv_cpu_dropout(const cv_op_args_t *args, cv_err_t *err)
{
    cv_tensor_t *y = out_at(args, 0), *mask = out_at(args, 1);
    if (y) copy_view(args->inputs[0], y);
    if (mask) {
        /* At inference nothing is dropped: the mask keeps every element. */
        int64_t n = cv_shape_numel(&mask->shape);
        if (mask->dtype == CV_DTYPE_BOOL)
            memset(mask->data, 1, (size_t)n);
        else
            for (int64_t i = 0; i < n; i++) cv_tensor_set_f64(mask, i, 1.0);
    }
    return CV_STATUS_OK;
}

/* ---- Transpose, Concat, Split, Slice, Expand, Tile ---------------------- */

/* Runs one copy region from src into dst. */
static void copy_region(size_t es, const cv_copy_region_t *r, void *dst, const void *src)
{
    strided_copy(es, r->n, r->dims, (char *)dst + r->dst_at * (int64_t)es, r->ds,
                 (const char *)src + r->src_at * (int64_t)es, r->ss);
}

cv_status cv_cpu_transpose(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0];
    cv_transpose_geometry_t g;
    cv_status st = cv_transpose_geometry(args->node, &x->shape, &g, err);
    if (st != CV_STATUS_OK) return st;
    CV_ASSERT(cv_shape_equal(&g.out, &y->shape));
    copy_region(cv_dtype_size(x->dtype), &g.copy, y->data, x->data);
    return CV_STATUS_OK;
}

cv_status cv_cpu_concat(const cv_op_args_t *args, cv_err_t *err)
{
    cv_tensor_t *y = args->outputs[0];
    cv_concat_geometry_t g;
    cv_status st = cv_concat_geometry(args->node, &y->shape, &g, err);
    if (st != CV_STATUS_OK) return st;
    cv_copy_region_t copy;
    for (int i = 0; i < args->ninputs; i++) {
        cv_concat_next(&g, &args->inputs[i]->shape, &copy);
        copy_region(cv_dtype_size(y->dtype), &copy, y->data, args->inputs[i]->data);
    }
    return CV_STATUS_OK;
}

cv_status cv_cpu_split(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_split_geometry_t g;
    cv_status st =
        cv_split_geometry(args->node, &x->shape, in_at(args, 1), args->noutputs, &g, err);
    if (st != CV_STATUS_OK) return st;
    cv_copy_region_t copy;
    for (int i = 0; i < args->noutputs; i++) {
        cv_tensor_t *y = args->outputs[i];
        if (cv_split_next(&g, y ? &y->shape : NULL, &copy))
            copy_region(cv_dtype_size(x->dtype), &copy, y->data, x->data);
    }
    return CV_STATUS_OK;
}

cv_status cv_cpu_slice(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0];
    cv_slice_geometry_t g;
    cv_status st = cv_slice_geometry(&x->shape, in_at(args, 1), in_at(args, 2), in_at(args, 3),
                                     in_at(args, 4), &g, err);
    if (st != CV_STATUS_OK) return st;
    CV_ASSERT(cv_shape_equal(&g.out, &y->shape));
    copy_region(cv_dtype_size(x->dtype), &g.copy, y->data, x->data);
    return CV_STATUS_OK;
}

cv_status cv_cpu_expand(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0];
    cv_copy_region_t copy;
    cv_expand_copy(&x->shape, &y->shape, &copy);
    copy_region(cv_dtype_size(x->dtype), &copy, y->data, x->data);
    return CV_STATUS_OK;
}

cv_status cv_cpu_tile(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0];
    cv_tile_geometry_t g;
    cv_status st = cv_tile_geometry(&x->shape, in_at(args, 1), &g, err);
    if (st != CV_STATUS_OK) return st;
    CV_ASSERT(cv_shape_equal(&g.out, &y->shape));
    copy_region(cv_dtype_size(x->dtype), &g.copy, y->data, x->data);
    return CV_STATUS_OK;
}

/* ---- Gather ------------------------------------------------------------- */

cv_status cv_cpu_gather(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0], *idx = args->inputs[1];
    cv_tensor_t *y = args->outputs[0];
    cv_gather_geometry_t g;
    cv_status st = cv_gather_geometry(args->node, &x->shape, idx, idx, &g, err);
    if (st != CV_STATUS_OK) return st;
    int64_t outer = g.outer, inner = g.inner, d = g.d, nidx = g.nidx;
    size_t es = cv_dtype_size(x->dtype), run = (size_t)inner * es;
    char *dst = y->data;
    const char *src = x->data;
    for (int64_t o = 0; o < outer; o++) {
        const char *base = src + (size_t)(o * d) * run;
        for (int64_t k = 0; k < nidx; k++) {
            int64_t v = cv_tensor_get_i64(idx, k);
            if (v < 0) v += d;
            memcpy(dst, base + (size_t)v * run, run);
            dst += run;
        }
    }
    return CV_STATUS_OK;
}

/* ---- Shape, Constant, ConstantOfShape, Range ---------------------------- */

cv_status cv_cpu_shape(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0];
    int r = x->shape.ndim;
    int64_t start = cv_node_attr_int(args->node, "start", 0);
    if (start < 0) start += r;
    start = CV_MAX(0, CV_MIN(start, r));
    int64_t *out = y->data;
    for (int64_t i = 0; i < y->shape.dims[0]; i++) out[i] = x->shape.dims[start + i];
    return CV_STATUS_OK;
}

cv_status cv_cpu_constant(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_node_t *node = args->node;
    cv_tensor_t *y = args->outputs[0];
    const cv_attr_t *a;
    if ((a = cv_node_attr(node, "value")) && a->type == CV_ATTR_TENSOR && a->tensor) {
        memcpy(y->data, a->tensor->data, cv_tensor_nbytes(a->tensor));
    } else if ((a = cv_node_attr(node, "value_float")) && a->type == CV_ATTR_FLOAT) {
        *(float *)y->data = a->f;
    } else if ((a = cv_node_attr(node, "value_int")) && a->type == CV_ATTR_INT) {
        *(int64_t *)y->data = a->i;
    } else if ((a = cv_node_attr(node, "value_floats")) && a->type == CV_ATTR_FLOATS) {
        if (a->n) memcpy(y->data, a->floats, sizeof(float) * (size_t)a->n);
    } else if ((a = cv_node_attr(node, "value_ints")) && a->type == CV_ATTR_INTS) {
        if (a->n) memcpy(y->data, a->ints, sizeof(int64_t) * (size_t)a->n);
    } else {
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "Constant has no usable value");
    }
    return CV_STATUS_OK;
}

cv_status cv_cpu_constant_of_shape(const cv_op_args_t *args, cv_err_t *err)
{
    cv_tensor_t *y = args->outputs[0];
    const cv_attr_t *a = cv_node_attr(args->node, "value");
    float zero = 0.0f;
    const void *value = a && a->tensor ? a->tensor->data : &zero;
    fill_elems(y->data, cv_dtype_size(y->dtype), cv_shape_numel(&y->shape), value);
    return CV_STATUS_OK;
}

cv_status cv_cpu_range(const cv_op_args_t *args, cv_err_t *err)
{
    cv_tensor_t *y = args->outputs[0];
    int64_t n = y->shape.dims[0];
    if (y->dtype == CV_DTYPE_FP32) {
        float start = *(const float *)args->inputs[0]->data;
        float delta = *(const float *)args->inputs[2]->data;
        float *out = y->data;
        for (int64_t i = 0; i < n; i++) out[i] = start + (float)i * delta;
    } else if (cv_dtype_is_float(y->dtype)) {
        double start = cv_tensor_get_f64(args->inputs[0], 0);
        double delta = cv_tensor_get_f64(args->inputs[2], 0);
        for (int64_t i = 0; i < n; i++) cv_tensor_set_f64(y, i, start + (double)i * delta);
    } else {
        int64_t start = cv_tensor_get_i64(args->inputs[0], 0);
        int64_t delta = cv_tensor_get_i64(args->inputs[2], 0);
        for (int64_t i = 0; i < n; i++) cv_tensor_set_i64(y, i, start + i * delta);
    }
    return CV_STATUS_OK;
}

/* ---- Pad ---------------------------------------------------------------- */

/* Constant mode (and any mode once an axis keeps nothing): the fill
 * everywhere, then the kept region of X copied into place. */
static void pad_constant(const cv_pad_geometry_t *g, const cv_tensor_t *x, const cv_tensor_t *value,
                         cv_tensor_t *y)
{
    size_t es = cv_dtype_size(x->dtype);
    uint64_t zero = 0;
    fill_elems(y->data, es, cv_shape_numel(&y->shape), g->has_value ? value->data : &zero);
    if (g->empty) return;
    int64_t ys[CV_MAX_DIMS], dst_at = 0, src_at = 0;
    cv_shape_strides(&y->shape, ys);
    for (int a = 0; a < g->ndim; a++) {
        dst_at += g->pb[a] * ys[a];
        src_at += g->lo[a] * g->xs[a];
    }
    strided_copy(es, g->ndim, g->kept, (char *)y->data + dst_at * (int64_t)es, ys,
                 (const char *)x->data + src_at * (int64_t)es, g->xs);
}

/* One row of Y along the last axis: element j of dst reads src at element
 * offset tl[j]. */
static void pad_gather_row(size_t es, char *dst, const char *src, const int64_t *tl, int64_t len)
{
#define GATHER(T)                                                                        \
    for (int64_t j = 0; j < len; j++) ((T *)dst)[j] = ((const T *)src)[tl[j]]
    CV_FOR_ELEMENT_SIZE(es, GATHER);
#undef GATHER
}

/* Reflect, edge, wrap: per axis, the source offset of each output
 * position, then one gather over the output. */
static cv_status pad_gather(const cv_pad_geometry_t *g, const cv_tensor_t *x, cv_tensor_t *y,
                            cv_err_t *err)
{
    size_t es = cv_dtype_size(x->dtype);
    int r = g->ndim;
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return CV_STATUS_OK;
    }
    int64_t total = 0;
    for (int a = 0; a < r; a++) total += g->out[a];
    int64_t *offs = cv_malloc(sizeof(int64_t) * (size_t)CV_MAX(total, 1));
    if (!offs)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for Pad's gather tables");
    int64_t *table[CV_MAX_DIMS];
    int64_t *next = offs;
    for (int a = 0; a < r; a++) {
        table[a] = next;
        for (int64_t o = 0; o < g->out[a]; o++) {
            int64_t j = o - g->pb[a];
            if (j < 0 || j >= g->kept[a]) j = cv_pad_fold(g->mode, j, g->kept[a]);
            table[a][o] = (g->lo[a] + j) * g->xs[a];
        }
        next += g->out[a];
    }
    int last = r - 1;
    int64_t len = g->out[last], rows = cv_shape_numel(&y->shape) / len, idx[CV_MAX_DIMS] = {0};
    for (int64_t row = 0; row < rows; row++) {
        int64_t base = 0;
        for (int a = 0; a < last; a++) base += table[a][idx[a]];
        pad_gather_row(es, (char *)y->data + row * len * (int64_t)es,
                       (const char *)x->data + base * (int64_t)es, table[last], len);
        for (int a = last - 1; a >= 0; a--) {
            if (++idx[a] < g->out[a]) break;
            idx[a] = 0;
        }
    }
    cv_free(offs);
    return CV_STATUS_OK;
}

cv_status cv_cpu_pad(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0], *value = in_at(args, 2);
    cv_tensor_t *y = args->outputs[0];
    cv_pad_geometry_t g;
    cv_status st = cv_pad_geometry(args->node, x, in_at(args, 1), value, in_at(args, 3), &g, err);
    if (st != CV_STATUS_OK) return st;
    for (int a = 0; a < g.ndim; a++) CV_ASSERT(g.out[a] == y->shape.dims[a]);
    if (cv_shape_numel(&y->shape) == 0) return CV_STATUS_OK;
    if (g.mode == CV_PAD_MODE_CONSTANT || g.empty) {
        pad_constant(&g, x, value, y);
        return CV_STATUS_OK;
    }
    return pad_gather(&g, x, y, err);
}

/* ---- ReduceMean, ReduceSum ---------------------------------------------- */

/* The reduction as alternating groups of axes: input extents, whether each
 * group is reduced, input strides and output strides (0 when reduced). */
typedef struct reduce_plan {
    int n;
    int64_t dims[CV_MAX_DIMS];
    bool reduced[CV_MAX_DIMS];
    int64_t is[CV_MAX_DIMS];
    int64_t os[CV_MAX_DIMS];
    int64_t count; /* input elements per output element */
} reduce_plan_t;

/* From X's shape and which of its axes are reduced (cv_reduce_axes). */
static void reduce_plan_make(const cv_shape_t *x, const bool *reduced, reduce_plan_t *p)
{
    int r = x->ndim;
    p->n = 0;
    p->count = 1;
    for (int a = 0; a < r; a++) {
        int64_t d = x->dims[a];
        if (reduced[a]) p->count *= d;
        if (d == 1) continue;
        if (p->n > 0 && p->reduced[p->n - 1] == reduced[a]) {
            p->dims[p->n - 1] *= d;
            continue;
        }
        p->dims[p->n] = d;
        p->reduced[p->n] = reduced[a];
        p->n++;
    }
    int64_t is = 1, os = 1;
    for (int a = p->n - 1; a >= 0; a--) {
        p->is[a] = is;
        is *= p->dims[a];
        p->os[a] = p->reduced[a] ? 0 : os;
        if (!p->reduced[a]) os *= p->dims[a];
    }
}

/* Steps idx over axes [0, n) of the plan, moving both offsets. */
static bool reduce_next(const reduce_plan_t *p, int n, int64_t *idx, int64_t *ioff,
                        int64_t *ooff)
{
    for (int a = n - 1; a >= 0; a--) {
        *ioff += p->is[a];
        *ooff += p->os[a];
        if (++idx[a] < p->dims[a]) return true;
        *ioff -= p->is[a] * p->dims[a];
        *ooff -= p->os[a] * p->dims[a];
        idx[a] = 0;
    }
    return false;
}

static float sum_f32(const float *x, int64_t n)
{
    /* Eight partial sums let the compiler vectorise without -ffast-math. */
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) s += x[i];
    return s;
}

static void reduce_f32(const reduce_plan_t *p, const float *x, int64_t nx, float *y, int64_t ny,
                       bool mean)
{
    memset(y, 0, sizeof(float) * (size_t)ny);
    if (p->n > 0 && nx > 0) {
        int last = p->n - 1;
        int64_t len = p->dims[last], idx[CV_MAX_DIMS] = {0}, ioff = 0, ooff = 0;
        do {
            if (p->reduced[last]) {
                y[ooff] += sum_f32(x + ioff, len);
            } else {
                float *yo = y + ooff;
                const float *xi = x + ioff;
                for (int64_t j = 0; j < len; j++) yo[j] += xi[j];
            }
        } while (reduce_next(p, last, idx, &ioff, &ooff));
    } else if (nx > 0) {
        memcpy(y, x, sizeof(float) * (size_t)ny); /* every axis had extent 1 */
    }
    if (!mean) return;
    /* The mean of nothing is NaN, as in ONNX's reference. */
    float count = (float)p->count;
    for (int64_t i = 0; i < ny; i++) y[i] = p->count ? y[i] / count : NAN;
}

/* Other dtypes: double accumulators for floats, int64 for integers. */
static cv_status reduce_generic(const cv_op_args_t *args, const reduce_plan_t *p, bool mean)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0];
    int64_t ny = cv_shape_numel(&y->shape), nx = cv_shape_numel(&x->shape);
    bool is_float = cv_dtype_is_float(x->dtype);
    void *acc = cv_cpu_scratch(args->cpu, sizeof(int64_t) * (size_t)CV_MAX(ny, 1));
    if (!acc) return CV_STATUS_OUT_OF_MEMORY;
    double *fa = acc;
    int64_t *ia = acc;
    memset(acc, 0, sizeof(int64_t) * (size_t)ny);
    if (nx > 0) {
        int64_t idx[CV_MAX_DIMS] = {0}, ioff = 0, ooff = 0;
        do {
            if (is_float)
                fa[ooff] += cv_tensor_get_f64(x, ioff);
            else
                ia[ooff] += cv_tensor_get_i64(x, ioff);
        } while (reduce_next(p, p->n, idx, &ioff, &ooff));
    }
    for (int64_t i = 0; i < ny; i++) {
        if (is_float)
            cv_tensor_set_f64(y, i, mean ? fa[i] / (double)p->count : fa[i]);
        else
            cv_tensor_set_i64(y, i, mean ? (p->count ? ia[i] / p->count : 0) : ia[i]);
    }
    return CV_STATUS_OK;
}

static cv_status cpu_reduce(const cv_op_args_t *args, bool mean, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0];
    bool reduced[CV_MAX_DIMS], noop;
    cv_status st = cv_reduce_axes(args->node, &x->shape, in_at(args, 1), reduced, &noop, err);
    if (st != CV_STATUS_OK) return st;
    if (noop) {
        copy_view(x, y);
        return CV_STATUS_OK;
    }
    reduce_plan_t p;
    reduce_plan_make(&x->shape, reduced, &p);
    if (x->dtype == CV_DTYPE_FP32) {
        reduce_f32(&p, x->data, cv_shape_numel(&x->shape), y->data, cv_shape_numel(&y->shape),
                   mean);
        return CV_STATUS_OK;
    }
    return reduce_generic(args, &p, mean);
}

cv_status cv_cpu_reduce_mean(const cv_op_args_t *args, cv_err_t *err)
{
    return cpu_reduce(args, true, err);
}

cv_status cv_cpu_reduce_sum(const cv_op_args_t *args, cv_err_t *err)
{
    return cpu_reduce(args, false, err);
}
