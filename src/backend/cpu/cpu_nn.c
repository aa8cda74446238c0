/*
 * cpu_nn.c: CPU kernels of the neural-network ops other than Conv:
 * BatchNormalization (inference), Gemm, MatMul, MaxPool, AveragePool,
 * GlobalAveragePool, GlobalMaxPool, LRN, LayerNormalization, Softmax and
 * LogSoftmax.
 *
 * Shapes were validated by src/ir/infer_nn.c; these kernels trust them and
 * compute. FP32 everywhere; Gemm and MatMul also take FP64 (through
 * cblas_dgemm). Pools see X as [N*C planes, D, H, W], 1-D and 2-D pools being
 * 3-D ones with leading extents of 1.
 */
#include "backend/cpu/cpu.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

static const cv_tensor_t *opt_input(const cv_op_args_t *args, int i)
{
    return i < args->ninputs ? args->inputs[i] : NULL;
}

static cv_tensor_t *opt_output(const cv_op_args_t *args, int i)
{
    return i < args->noutputs ? args->outputs[i] : NULL;
}

static cv_status unsupported_dtype(const cv_op_args_t *args, cv_dtype_t dt, cv_err_t *err)
{
    return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s on %s is not supported",
                     cv_op_name(args->node->op), cv_dtype_name(dt));
}

/* Product of dims [from, to). */
static int64_t dims_product(const cv_shape_t *s, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= s->dims[i];
    return p;
}

/* The fused activation of Gemm (and MatMul, should a pass fold one there). */
static void apply_activation_f32(const cv_node_t *node, float *y, int64_t n)
{
    float lo = -INFINITY, hi = INFINITY;
    if (node->activation == CV_ACTIVATION_NONE) return;
    if (node->activation == CV_ACTIVATION_RELU) lo = 0.0f;
    else if (node->activation == CV_ACTIVATION_CLIP) {
        lo = node->clip_min;
        hi = node->clip_max;
    }
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        y[i] = v;
    }
}

static void apply_activation_f64(const cv_node_t *node, double *y, int64_t n)
{
    double lo = -INFINITY, hi = INFINITY;
    if (node->activation == CV_ACTIVATION_NONE) return;
    if (node->activation == CV_ACTIVATION_RELU) lo = 0.0;
    else if (node->activation == CV_ACTIVATION_CLIP) {
        lo = node->clip_min;
        hi = node->clip_max;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = y[i];
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        y[i] = v;
    }
}

/* ---- BatchNormalization ------------------------------------------------- */

cv_status cv_cpu_batch_normalization(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    if (x->dtype != CV_DTYPE_FP32) return unsupported_dtype(args, x->dtype, err);
    const float *xs = x->data, *scale = args->inputs[1]->data, *bias = args->inputs[2]->data;
    const float *mean = args->inputs[3]->data, *var = args->inputs[4]->data;
    float *y = args->outputs[0]->data;
    float eps = cv_node_attr_float(args->node, "epsilon", 1e-5f);
    int64_t n = x->shape.dims[0];
    int64_t channels = cv_shape_numel(&args->inputs[3]->shape);
    int64_t inner = n == 0 ? 0 : cv_shape_numel(&x->shape) / (n * channels);
    for (int64_t c = 0; c < channels; c++) {
        float a = scale[c] / sqrtf(var[c] + eps), b = bias[c] - mean[c] * a;
        for (int64_t i = 0; i < n; i++) {
            const float *src = xs + (i * channels + c) * inner;
            float *dst = y + (i * channels + c) * inner;
            for (int64_t j = 0; j < inner; j++) dst[j] = src[j] * a + b;
        }
    }
    /* Training-mode outputs of older models: the running statistics pass
     * through unchanged (odd outputs are means, even ones variances). */
    for (int k = 1; k < args->noutputs && k < 5; k++) {
        cv_tensor_t *o = args->outputs[k];
        if (!o) continue;
        memcpy(o->data, k % 2 ? mean : var, sizeof(float) * (size_t)channels);
    }
    return CV_STATUS_OK;
}

/* ---- Gemm ------------------------------------------------------------------ */

/* Y[M,N] = beta * C broadcast to [M,N] (C of rank <= 2). */
static void fill_broadcast_c(const cv_tensor_t *c, double beta, cv_tensor_t *y, int64_t m,
                             int64_t n)
{
    int r = c->shape.ndim;
    int64_t cm = r == 2 ? c->shape.dims[0] : 1, cn = r >= 1 ? c->shape.dims[r - 1] : 1;
    int64_t sm = cm == 1 ? 0 : cn, sn = cn == 1 ? 0 : 1;
    if (y->dtype == CV_DTYPE_FP32) {
        const float *cs = c->data;
        float *ys = y->data, fb = (float)beta;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) ys[i * n + j] = fb * cs[i * sm + j * sn];
    } else {
        const double *cs = c->data;
        double *ys = y->data;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) ys[i * n + j] = beta * cs[i * sm + j * sn];
    }
}

cv_status cv_cpu_gemm(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *a = args->inputs[0], *b = args->inputs[1], *c = opt_input(args, 2);
    cv_tensor_t *y = args->outputs[0];
    if (a->dtype != CV_DTYPE_FP32 && a->dtype != CV_DTYPE_FP64)
        return unsupported_dtype(args, a->dtype, err);
    bool ta = cv_node_attr_int(args->node, "transA", 0) != 0;
    bool tb = cv_node_attr_int(args->node, "transB", 0) != 0;
    double alpha = cv_node_attr_float(args->node, "alpha", 1.0f);
    double beta = cv_node_attr_float(args->node, "beta", 1.0f);
    int64_t m = y->shape.dims[0], n = y->shape.dims[1];
    int64_t k = a->shape.dims[ta ? 0 : 1];
    bool use_c = c && beta != 0.0 && cv_shape_numel(&c->shape) > 0;
    if (m == 0 || n == 0) return CV_STATUS_OK;
    if (use_c) fill_broadcast_c(c, beta, y, m, n);
    CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
    int lda = (int)a->shape.dims[1], ldb = (int)b->shape.dims[1];
    if (y->dtype == CV_DTYPE_FP32) {
        if (k == 0 && !use_c) memset(y->data, 0, sizeof(float) * (size_t)(m * n));
        else
            cblas_sgemm(CblasRowMajor, opa, opb, (int)m, (int)n, (int)k, (float)alpha, a->data, lda,
                        b->data, ldb, use_c ? 1.0f : 0.0f, y->data, (int)n);
        apply_activation_f32(args->node, y->data, m * n);
    } else {
        if (k == 0 && !use_c) memset(y->data, 0, sizeof(double) * (size_t)(m * n));
        else
            cblas_dgemm(CblasRowMajor, opa, opb, (int)m, (int)n, (int)k, alpha, a->data, lda,
                        b->data, ldb, use_c ? 1.0 : 0.0, y->data, (int)n);
        apply_activation_f64(args->node, y->data, m * n);
    }
    return CV_STATUS_OK;
}

/* ---- MatMul ---------------------------------------------------------------- */

/* One [m,k] x [k,n] product into y (row-major, contiguous). */
static void matmul_one(cv_dtype_t dt, const void *a, const void *b, void *y, int64_t m, int64_t n,
                       int64_t k)
{
    if (k == 0) {
        memset(y, 0, cv_dtype_size(dt) * (size_t)(m * n));
        return;
    }
    if (dt == CV_DTYPE_FP32)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                    (int)k, b, (int)n, 0.0f, y, (int)n);
    else
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0, a,
                    (int)k, b, (int)n, 0.0, y, (int)n);
}

cv_status cv_cpu_matmul(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *a = args->inputs[0], *b = args->inputs[1];
    cv_tensor_t *y = args->outputs[0];
    cv_dtype_t dt = a->dtype;
    if (dt != CV_DTYPE_FP32 && dt != CV_DTYPE_FP64) return unsupported_dtype(args, dt, err);
    int ra = a->shape.ndim, rb = b->shape.ndim;
    /* numpy: a 1-D A is a row [1,K], a 1-D B a column [K,1]; the added dim is
     * absent from Y, which changes nothing in its row-major layout. */
    int64_t m = ra >= 2 ? a->shape.dims[ra - 2] : 1, k = a->shape.dims[ra - 1];
    int64_t n = rb >= 2 ? b->shape.dims[rb - 1] : 1;
    cv_shape_t ba = {.ndim = ra > 2 ? ra - 2 : 0}, bb = {.ndim = rb > 2 ? rb - 2 : 0};
    memcpy(ba.dims, a->shape.dims, sizeof(int64_t) * (size_t)ba.ndim);
    memcpy(bb.dims, b->shape.dims, sizeof(int64_t) * (size_t)bb.ndim);
    int nb = CV_MAX(ba.ndim, bb.ndim);
    cv_shape_t batch = {.ndim = nb};
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - ba.ndim), ib = i - (nb - bb.ndim);
        int64_t da = ia >= 0 ? ba.dims[ia] : 1, db = ib >= 0 ? bb.dims[ib] : 1;
        batch.dims[i] = da == 1 ? db : da;
    }
    int64_t nbatch = cv_shape_numel(&batch), numel_b = cv_shape_numel(&bb);
    size_t es = cv_dtype_size(dt);
    const char *pa = a->data, *pb = b->data;
    char *py = y->data;
    if (m * n == 0 || nbatch == 0) return CV_STATUS_OK;
    if (numel_b == 1) {
        /* B is shared by every batch: stack A's batches into one tall GEMM. */
        matmul_one(dt, pa, pb, py, nbatch * m, n, k);
    } else {
        int64_t sa[CV_MAX_DIMS], sb[CV_MAX_DIMS];
        cv_broadcast_strides(&ba, &batch, sa);
        cv_broadcast_strides(&bb, &batch, sb);
        int64_t idx[CV_MAX_DIMS] = {0};
        for (int64_t t = 0; t < nbatch; t++) {
            int64_t oa = 0, ob = 0;
            for (int i = 0; i < nb; i++) {
                oa += idx[i] * sa[i];
                ob += idx[i] * sb[i];
            }
            matmul_one(dt, pa + (size_t)(oa * m * k) * es, pb + (size_t)(ob * k * n) * es,
                       py + (size_t)(t * m * n) * es, m, n, k);
            for (int i = nb - 1; i >= 0; i--) {
                if (++idx[i] < batch.dims[i]) break;
                idx[i] = 0;
            }
        }
    }
    if (dt == CV_DTYPE_FP32) apply_activation_f32(args->node, y->data, nbatch * m * n);
    else apply_activation_f64(args->node, y->data, nbatch * m * n);
    return CV_STATUS_OK;
}

/* ---- MaxPool, AveragePool -------------------------------------------------- */

typedef struct pool_geom {
    int64_t planes;                          /* N*C */
    int64_t in[3], out[3];                   /* D, H, W; 1 where absent */
    int64_t k[3], s[3], d[3], pb[3], pe[3];  /* kernel, stride, dilation, pads */
} pool_geom_t;

/* Geometry from shapes (validated by infer_pool) and attributes; SAME_*
 * pads follow from the output size. */
static void pool_geometry(const cv_node_t *node, const cv_tensor_t *x, const cv_tensor_t *y,
                          pool_geom_t *g)
{
    int nd = x->shape.ndim - 2, off = 3 - nd;
    CV_ASSERT(nd >= 1 && nd <= 3);
    g->planes = x->shape.dims[0] * x->shape.dims[1];
    int nk, nstr, ndil, npad;
    const int64_t *ks = cv_node_attr_ints(node, "kernel_shape", &nk);
    const int64_t *str = cv_node_attr_ints(node, "strides", &nstr);
    const int64_t *dil = cv_node_attr_ints(node, "dilations", &ndil);
    const int64_t *pads = cv_node_attr_ints(node, "pads", &npad);
    CV_ASSERT(ks && nk == nd);
    const char *auto_pad = cv_node_attr_string(node, "auto_pad", "NOTSET");
    bool same = strncmp(auto_pad, "SAME_", 5) == 0, upper = strcmp(auto_pad, "SAME_UPPER") == 0;
    bool explicit_pads = !same && strcmp(auto_pad, "VALID") != 0 && pads && npad == 2 * nd;
    for (int i = 0; i < 3; i++) {
        g->in[i] = g->out[i] = g->k[i] = g->s[i] = g->d[i] = 1;
        g->pb[i] = g->pe[i] = 0;
    }
    for (int i = 0; i < nd; i++) {
        int j = off + i;
        g->in[j] = x->shape.dims[2 + i];
        g->out[j] = y->shape.dims[2 + i];
        g->k[j] = ks[i];
        g->s[j] = str && nstr == nd ? str[i] : 1;
        g->d[j] = dil && ndil == nd ? dil[i] : 1;
        if (same) {
            int64_t total = (g->out[j] - 1) * g->s[j] + (g->k[j] - 1) * g->d[j] + 1 - g->in[j];
            if (total < 0) total = 0;
            g->pb[j] = upper ? total / 2 : total - total / 2;
            g->pe[j] = total - g->pb[j];
        } else if (explicit_pads) {
            g->pb[j] = pads[i];
            g->pe[j] = pads[nd + i];
        }
    }
}

/* For output index o along dim i: the first input coordinate of its
 * window, the taps [klo, khi) that land inside the input, and how many
 * taps land inside input plus padding (the count_include_pad divisor:
 * ceil_mode windows may run past the end padding, and those taps count
 * for nothing). */
typedef struct pool_span {
    int64_t start, klo, khi, padded_count;
} pool_span_t;

static pool_span_t pool_span(const pool_geom_t *g, int i, int64_t o)
{
    pool_span_t sp;
    int64_t d = g->d[i], k = g->k[i];
    sp.start = o * g->s[i] - g->pb[i];
    sp.klo = sp.start >= 0 ? 0 : (-sp.start + d - 1) / d;
    int64_t room = g->in[i] - sp.start; /* taps k with start + k*d < in */
    sp.khi = room <= 0 ? 0 : CV_MIN(k, (room + d - 1) / d);
    if (sp.klo > sp.khi) sp.klo = sp.khi;
    int64_t proom = g->in[i] + g->pe[i] - sp.start;
    sp.padded_count = proom <= 0 ? 0 : CV_MIN(k, (proom + d - 1) / d);
    return sp;
}

/* Per-dim span tables, laid out [dim 0 outputs | dim 1 outputs | dim 2]. */
static pool_span_t *pool_spans(const cv_op_args_t *args, const pool_geom_t *g, cv_err_t *err)
{
    int64_t total = g->out[0] + g->out[1] + g->out[2];
    pool_span_t *spans = cv_cpu_scratch(args->cpu, sizeof(pool_span_t) * (size_t)total);
    if (!spans) {
        cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for pooling tables");
        return NULL;
    }
    pool_span_t *p = spans;
    for (int i = 0; i < 3; i++)
        for (int64_t o = 0; o < g->out[i]; o++) *p++ = pool_span(g, i, o);
    return spans;
}

/* 3x3 max over rows r0..r2 at columns c..c+2 (no bounds to check). */
static inline float max3x3(const float *r0, const float *r1, const float *r2, int64_t c)
{
    float m = r0[c];
    m = r0[c + 1] > m ? r0[c + 1] : m;
    m = r0[c + 2] > m ? r0[c + 2] : m;
    m = r1[c] > m ? r1[c] : m;
    m = r1[c + 1] > m ? r1[c + 1] : m;
    m = r1[c + 2] > m ? r1[c + 2] : m;
    m = r2[c] > m ? r2[c] : m;
    m = r2[c + 1] > m ? r2[c + 1] : m;
    m = r2[c + 2] > m ? r2[c + 2] : m;
    return m;
}

cv_status cv_cpu_max_pool(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0], *ind = opt_output(args, 1);
    if (x->dtype != CV_DTYPE_FP32) return unsupported_dtype(args, x->dtype, err);
    pool_geom_t g;
    pool_geometry(args->node, x, y, &g);
    if (cv_shape_numel(&y->shape) == 0) return CV_STATUS_OK;
    pool_span_t *spans = pool_spans(args, &g, err);
    if (!spans) return CV_STATUS_OUT_OF_MEMORY;
    const pool_span_t *sd = spans, *sh = sd + g.out[0], *sw = sh + g.out[1];
    bool col_major = cv_node_attr_int(args->node, "storage_order", 0) == 1;
    int64_t in_plane = g.in[0] * g.in[1] * g.in[2];
    bool fast3x3 = !ind && g.k[0] == 1 && g.k[1] == 3 && g.k[2] == 3 && g.d[1] == 1 && g.d[2] == 1;
    const float *xs = x->data;
    float *ys = y->data;
    int64_t *is = ind ? ind->data : NULL;
    for (int64_t p = 0; p < g.planes; p++) {
        const float *xp = xs + p * in_plane;
        for (int64_t od = 0; od < g.out[0]; od++)
            for (int64_t oh = 0; oh < g.out[1]; oh++) {
                const pool_span_t *a = &sd[od], *b = &sh[oh];
                for (int64_t ow = 0; ow < g.out[2]; ow++) {
                    const pool_span_t *c = &sw[ow];
                    if (fast3x3 && b->klo == 0 && b->khi == 3 && c->klo == 0 && c->khi == 3) {
                        const float *r0 = xp + (a->start * g.in[1] + b->start) * g.in[2];
                        *ys++ = max3x3(r0, r0 + g.in[2], r0 + 2 * g.in[2], c->start);
                        continue;
                    }
                    float best = -FLT_MAX;
                    int64_t at = -1;
                    for (int64_t kd = a->klo; kd < a->khi; kd++) {
                        int64_t id = a->start + kd * g.d[0];
                        for (int64_t kh = b->klo; kh < b->khi; kh++) {
                            int64_t ih = b->start + kh * g.d[1];
                            const float *row = xp + (id * g.in[1] + ih) * g.in[2];
                            for (int64_t kw = c->klo; kw < c->khi; kw++) {
                                int64_t iw = c->start + kw * g.d[2];
                                if (row[iw] > best || at < 0) {
                                    best = row[iw];
                                    at = col_major ? id + ih * g.in[0] + iw * g.in[0] * g.in[1]
                                                   : (id * g.in[1] + ih) * g.in[2] + iw;
                                }
                            }
                        }
                    }
                    *ys++ = best;
                    if (is) *is++ = at < 0 ? -1 : p * in_plane + at;
                }
            }
    }
    return CV_STATUS_OK;
}

cv_status cv_cpu_average_pool(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0];
    if (x->dtype != CV_DTYPE_FP32) return unsupported_dtype(args, x->dtype, err);
    pool_geom_t g;
    pool_geometry(args->node, x, y, &g);
    if (cv_shape_numel(&y->shape) == 0) return CV_STATUS_OK;
    pool_span_t *spans = pool_spans(args, &g, err);
    if (!spans) return CV_STATUS_OUT_OF_MEMORY;
    const pool_span_t *sd = spans, *sh = sd + g.out[0], *sw = sh + g.out[1];
    bool include_pad = cv_node_attr_int(args->node, "count_include_pad", 0) == 1;
    int64_t in_plane = g.in[0] * g.in[1] * g.in[2];
    const float *xs = x->data;
    float *ys = y->data;
    for (int64_t p = 0; p < g.planes; p++) {
        const float *xp = xs + p * in_plane;
        for (int64_t od = 0; od < g.out[0]; od++)
            for (int64_t oh = 0; oh < g.out[1]; oh++) {
                const pool_span_t *a = &sd[od], *b = &sh[oh];
                for (int64_t ow = 0; ow < g.out[2]; ow++) {
                    const pool_span_t *c = &sw[ow];
                    float sum = 0.0f;
                    for (int64_t kd = a->klo; kd < a->khi; kd++) {
                        int64_t id = a->start + kd * g.d[0];
                        for (int64_t kh = b->klo; kh < b->khi; kh++) {
                            const float *row =
                                xp + (id * g.in[1] + b->start + kh * g.d[1]) * g.in[2] + c->start;
                            for (int64_t kw = c->klo; kw < c->khi; kw++) sum += row[kw * g.d[2]];
                        }
                    }
                    int64_t count = include_pad
                                        ? a->padded_count * b->padded_count * c->padded_count
                                        : (a->khi - a->klo) * (b->khi - b->klo) * (c->khi - c->klo);
                    *ys++ = count > 0 ? sum / (float)count : 0.0f;
                }
            }
    }
    return CV_STATUS_OK;
}

/* ---- GlobalAveragePool, GlobalMaxPool ------------------------------------- */

static cv_status global_pool(const cv_op_args_t *args, bool is_max, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    if (x->dtype != CV_DTYPE_FP32) return unsupported_dtype(args, x->dtype, err);
    int64_t planes = x->shape.dims[0] * x->shape.dims[1];
    int64_t plane = dims_product(&x->shape, 2, x->shape.ndim);
    const float *xs = x->data;
    float *ys = args->outputs[0]->data;
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = xs + p * plane;
        if (is_max) {
            float m = plane > 0 ? xp[0] : -FLT_MAX;
            for (int64_t i = 1; i < plane; i++) m = xp[i] > m ? xp[i] : m;
            ys[p] = m;
        } else {
            /* Partial sums in double keep large planes exact enough. */
            double sum = 0.0;
            for (int64_t i = 0; i < plane; i++) sum += xp[i];
            ys[p] = plane > 0 ? (float)(sum / (double)plane) : 0.0f;
        }
    }
    return CV_STATUS_OK;
}

cv_status cv_cpu_global_average_pool(const cv_op_args_t *args, cv_err_t *err)
{
    return global_pool(args, false, err);
}

cv_status cv_cpu_global_max_pool(const cv_op_args_t *args, cv_err_t *err)
{
    return global_pool(args, true, err);
}

/* ---- LRN -------------------------------------------------------------------- */

cv_status cv_cpu_lrn(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    if (x->dtype != CV_DTYPE_FP32) return unsupported_dtype(args, x->dtype, err);
    int64_t size = cv_node_attr_int(args->node, "size", 1);
    float alpha = cv_node_attr_float(args->node, "alpha", 1e-4f);
    float beta = cv_node_attr_float(args->node, "beta", 0.75f);
    float bias = cv_node_attr_float(args->node, "bias", 1.0f);
    int64_t n = x->shape.dims[0], channels = x->shape.dims[1];
    int64_t plane = dims_product(&x->shape, 2, x->shape.ndim);
    /* The window of channel c is [c - floor((size-1)/2), c + ceil((size-1)/2)]. */
    int64_t before = (size - 1) / 2, after = size - 1 - before;
    float *sq = cv_cpu_scratch(args->cpu, sizeof(float) * (size_t)CV_MAX(plane, 1));
    if (!sq) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for LRN scratch");
    const float *xs = x->data;
    float *ys = args->outputs[0]->data;
    float scale = alpha / (float)size;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < channels; c++) {
            memset(sq, 0, sizeof(float) * (size_t)plane);
            int64_t c0 = CV_MAX(0, c - before), c1 = CV_MIN(channels - 1, c + after);
            for (int64_t cc = c0; cc <= c1; cc++) {
                const float *src = xs + (i * channels + cc) * plane;
                for (int64_t j = 0; j < plane; j++) sq[j] += src[j] * src[j];
            }
            const float *src = xs + (i * channels + c) * plane;
            float *dst = ys + (i * channels + c) * plane;
            for (int64_t j = 0; j < plane; j++) dst[j] = src[j] * powf(bias + scale * sq[j], -beta);
        }
    return CV_STATUS_OK;
}

/* ---- LayerNormalization ---------------------------------------------------- */

/* `p` broadcast to `norm`, as `norm_size` floats: p itself when it already
 * has that many elements, else expanded into dst. */
static const float *expand_to(const cv_tensor_t *p, const cv_shape_t *norm, int64_t norm_size,
                              float *dst)
{
    if (cv_shape_numel(&p->shape) == norm_size) return p->data;
    int64_t st[CV_MAX_DIMS], idx[CV_MAX_DIMS] = {0};
    cv_broadcast_strides(&p->shape, norm, st);
    const float *src = p->data;
    for (int64_t t = 0; t < norm_size; t++) {
        int64_t off = 0;
        for (int i = 0; i < norm->ndim; i++) off += idx[i] * st[i];
        dst[t] = src[off];
        for (int i = norm->ndim - 1; i >= 0; i--) {
            if (++idx[i] < norm->dims[i]) break;
            idx[i] = 0;
        }
    }
    return dst;
}

cv_status cv_cpu_layer_normalization(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0], *sc = args->inputs[1], *bt = opt_input(args, 2);
    if (x->dtype != CV_DTYPE_FP32) return unsupported_dtype(args, x->dtype, err);
    cv_tensor_t *mean_out = opt_output(args, 1), *inv_out = opt_output(args, 2);
    int r = x->shape.ndim;
    int64_t a = cv_node_attr_int(args->node, "axis", -1);
    int axis = (int)(a < 0 ? a + r : a);
    CV_ASSERT(axis >= 0 && axis < r);
    float eps = cv_node_attr_float(args->node, "epsilon", 1e-5f);
    cv_shape_t norm = {.ndim = r - axis};
    memcpy(norm.dims, x->shape.dims + axis, sizeof(int64_t) * (size_t)norm.ndim);
    int64_t inner = cv_shape_numel(&norm), outer = dims_product(&x->shape, 0, axis);
    float *tmp = cv_cpu_scratch(args->cpu, sizeof(float) * (size_t)CV_MAX(2 * inner, 1));
    if (!tmp) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for LayerNormalization");
    const float *scale = expand_to(sc, &norm, inner, tmp);
    const float *bias = bt ? expand_to(bt, &norm, inner, tmp + inner) : NULL;
    const float *xs = x->data;
    float *ys = args->outputs[0]->data;
    for (int64_t o = 0; o < outer; o++) {
        const float *src = xs + o * inner;
        float *dst = ys + o * inner;
        double sum = 0.0, sq = 0.0;
        for (int64_t j = 0; j < inner; j++) sum += src[j];
        double mean = inner > 0 ? sum / (double)inner : 0.0;
        for (int64_t j = 0; j < inner; j++) {
            double dv = src[j] - mean;
            sq += dv * dv;
        }
        double var = inner > 0 ? sq / (double)inner : 0.0;
        float inv = (float)(1.0 / sqrt(var + (double)eps)), mf = (float)mean;
        for (int64_t j = 0; j < inner; j++) {
            float v = (src[j] - mf) * inv * scale[j];
            dst[j] = bias ? v + bias[j] : v;
        }
        if (mean_out) ((float *)mean_out->data)[o] = mf;
        if (inv_out) ((float *)inv_out->data)[o] = inv;
    }
    return CV_STATUS_OK;
}

/* ---- Softmax, LogSoftmax ---------------------------------------------------- */

/* Normalizes over `len` elements `inner` apart, for each of outer*inner
 * lines; numerically stable (the line's max is subtracted first). The
 * lines of one outer block are done together so that memory is read
 * contiguously; acc holds 2*inner floats. */
static void softmax_f32(const float *x, float *y, int64_t outer, int64_t len, int64_t inner,
                        bool log_out, float *acc)
{
    float *mx = acc, *sum = acc + inner;
    for (int64_t o = 0; o < outer; o++) {
        const float *xs = x + o * len * inner;
        float *ys = y + o * len * inner;
        for (int64_t i = 0; i < inner; i++) {
            mx[i] = -INFINITY;
            sum[i] = 0.0f;
        }
        for (int64_t j = 0; j < len; j++)
            for (int64_t i = 0; i < inner; i++) mx[i] = xs[j * inner + i] > mx[i] ? xs[j * inner + i] : mx[i];
        for (int64_t j = 0; j < len; j++)
            for (int64_t i = 0; i < inner; i++) {
                float e = expf(xs[j * inner + i] - mx[i]);
                sum[i] += e;
                if (!log_out) ys[j * inner + i] = e;
            }
        if (log_out) {
            for (int64_t i = 0; i < inner; i++) sum[i] = mx[i] + logf(sum[i]);
            for (int64_t j = 0; j < len; j++)
                for (int64_t i = 0; i < inner; i++) ys[j * inner + i] = xs[j * inner + i] - sum[i];
        } else {
            for (int64_t i = 0; i < inner; i++) sum[i] = 1.0f / sum[i];
            for (int64_t j = 0; j < len; j++)
                for (int64_t i = 0; i < inner; i++) ys[j * inner + i] *= sum[i];
        }
    }
}

static cv_status softmax_kernel(const cv_op_args_t *args, bool log_out, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    if (x->dtype != CV_DTYPE_FP32) return unsupported_dtype(args, x->dtype, err);
    int r = x->shape.ndim;
    bool legacy = args->node->opset < 13;
    int64_t a = cv_node_attr_int(args->node, "axis", legacy ? 1 : -1);
    int axis = (int)(a < 0 ? a + r : a);
    CV_ASSERT(axis >= 0 && axis < r);
    int64_t outer = dims_product(&x->shape, 0, axis), len, inner;
    if (legacy) {
        /* Coerced to 2-D [outer, rest]: one softmax over all of `rest`. */
        len = dims_product(&x->shape, axis, r);
        inner = 1;
    } else {
        len = x->shape.dims[axis];
        inner = dims_product(&x->shape, axis + 1, r);
    }
    if (outer * len * inner == 0) return CV_STATUS_OK;
    float *acc = cv_cpu_scratch(args->cpu, sizeof(float) * (size_t)(2 * inner));
    if (!acc) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for softmax scratch");
    softmax_f32(x->data, args->outputs[0]->data, outer, len, inner, log_out, acc);
    return CV_STATUS_OK;
}

cv_status cv_cpu_softmax(const cv_op_args_t *args, cv_err_t *err)
{
    return softmax_kernel(args, false, err);
}

cv_status cv_cpu_log_softmax(const cv_op_args_t *args, cv_err_t *err)
{
    return softmax_kernel(args, true, err);
}
