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
 *
 * Pools (split by planes) and Gemm/MatMul (split into blocks of the
 * output, each a single-threaded BLAS call) run over the CPU context's
 * thread pool when they are large enough; the other ops here run on the
 * calling thread.
 *
 * The hot loops of pooling have AVX2 versions chosen at run time when the
 * CPU has AVX2 and FMA; defining CARAVEL_NO_SIMD at build time keeps only
 * the portable loops (so that they can be tested on any machine).
 */
#include "backend/cpu/cpu.h"
#include "backend/nn_geometry.h"
#include "backend/window.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CARAVEL_NO_SIMD)
#include <immintrin.h>
#define NN_X86 1
#endif

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

/* ---- splitting over the pool ---------------------------------------------
 * Pools split by planes, Gemm and MatMul by blocks of output columns or
 * rows; no split changes how any output element is computed. */

/* Below this much work (elements touched, or multiply-adds) a kernel runs on
 * one thread: handing work to the pool (a few us) would cost more. */
#define NN_MIN_PARALLEL_WORK (1 << 16)
/* Tasks per thread for loops over many equal pieces: a thread that starts
 * late, or shares its core with another process, just takes fewer. */
#define NN_TASKS_PER_THREAD 4

static cv_pool_t *nn_pool(const cv_op_args_t *args)
{
    return args->cpu ? args->cpu->pool : NULL;
}

/* How many tasks a loop over `pieces` equal pieces of `work` in all is cut
 * into. */
static int64_t nn_tasks(const cv_op_args_t *args, int64_t work, int64_t pieces)
{
    int threads = cv_pool_threads(nn_pool(args));
    if (threads <= 1 || work < NN_MIN_PARALLEL_WORK || pieces < 2) return 1;
    return CV_MIN(pieces, (int64_t)threads * NN_TASKS_PER_THREAD);
}

/* The fused activation of Gemm (and MatMul, should a pass fold one there). */
static void apply_activation_f32(const cv_node_t *node, float *y, int64_t n)
{
    cv_clamp_t c = cv_activation_clamp(node);
    if (!c.active) return;
    for (int64_t i = 0; i < n; i++) y[i] = cv_clamp_f32(y[i], c.lo, c.hi);
}

static void apply_activation_f64(const cv_node_t *node, double *y, int64_t n)
{
    cv_clamp_t c = cv_activation_clamp(node);
    if (!c.active) return;
    double lo = c.lo, hi = c.hi;
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
    int64_t inner = n * channels == 0 ? 0 : cv_shape_numel(&x->shape) / (n * channels);
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

/* C[m,n] = alpha * op(A) * op(B) + beta * C, row-major, FP32 or FP64. A
 * product with one row or one column goes to gemv, which OpenBLAS runs
 * several times faster than gemm in that shape (batch-1 classifiers). */
static void gemm_any(cv_dtype_t dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                     const void *a, int64_t lda, const void *b, int64_t ldb, double beta, void *c,
                     int64_t ldc)
{
    bool f32 = dt == CV_DTYPE_FP32;
    size_t es = cv_dtype_size(dt);
    if (m == 0 || n == 0) return;
    if (beta == 0.0) {
        /* gemv may scale y by beta rather than overwrite it: clear it. */
        for (int64_t i = 0; i < m; i++)
            memset((char *)c + (size_t)(i * ldc) * es, 0, es * (size_t)n);
        if (k == 0) return;
    }
    if (k == 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                if (f32)
                    ((float *)c)[i * ldc + j] *= (float)beta;
                else
                    ((double *)c)[i * ldc + j] *= beta;
            }
        return;
    }
    if (m == 1) {
        /* y[n] = op(B)^T a; a is row 0 of op(A) */
        int inca = ta ? (int)lda : 1;
        CBLAS_TRANSPOSE op = tb ? CblasNoTrans : CblasTrans;
        int rows = tb ? (int)n : (int)k, cols = tb ? (int)k : (int)n;
        if (f32)
            cblas_sgemv(CblasRowMajor, op, rows, cols, (float)alpha, b, (int)ldb, a, inca,
                        (float)beta, c, 1);
        else
            cblas_dgemv(CblasRowMajor, op, rows, cols, alpha, b, (int)ldb, a, inca, beta, c, 1);
        return;
    }
    if (n == 1) {
        /* y[m] (column 0 of C) = op(A) b; b is column 0 of op(B) */
        int incb = tb ? 1 : (int)ldb;
        CBLAS_TRANSPOSE op = ta ? CblasTrans : CblasNoTrans;
        int rows = ta ? (int)k : (int)m, cols = ta ? (int)m : (int)k;
        if (f32)
            cblas_sgemv(CblasRowMajor, op, rows, cols, (float)alpha, a, (int)lda, b, incb,
                        (float)beta, c, (int)ldc);
        else
            cblas_dgemv(CblasRowMajor, op, rows, cols, alpha, a, (int)lda, b, incb, beta, c,
                        (int)ldc);
        return;
    }
    CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
    if (f32)
        cblas_sgemm(CblasRowMajor, opa, opb, (int)m, (int)n, (int)k, (float)alpha, a, (int)lda, b,
                    (int)ldb, (float)beta, c, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, opa, opb, (int)m, (int)n, (int)k, alpha, a, (int)lda, b,
                    (int)ldb, beta, c, (int)ldc);
}

/* gemm_any over the pool: C is cut into blocks of whole rows or whole
 * columns (along the longer side), each one gemm_any call. The cut depends
 * on the shape alone, never on the thread count, so that results do not
 * either (OpenBLAS may round a block differently from the whole). */
#define NN_GEMM_BLOCKS 4
#define NN_GEMM_ALIGN 16 /* blocks start at multiples of this (register tiles) */

typedef struct gemm_job {
    cv_dtype_t dt;
    bool ta, tb, by_rows;
    int64_t m, n, k, lda, ldb, ldc, ntasks;
    double alpha, beta;
    const char *a, *b;
    char *c;
} gemm_job_t;

static void gemm_task(void *ctx, int64_t t, int thread)
{
    const gemm_job_t *j = ctx;
    size_t es = cv_dtype_size(j->dt);
    int64_t lo, hi;
    cv_pool_range(j->by_rows ? j->m : j->n, j->ntasks, NN_GEMM_ALIGN, t, &lo, &hi);
    if (hi <= lo) return;
    if (j->by_rows) {
        const char *a = j->a + (size_t)(j->ta ? lo : lo * j->lda) * es;
        gemm_any(j->dt, j->ta, j->tb, hi - lo, j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb,
                 j->beta, j->c + (size_t)(lo * j->ldc) * es, j->ldc);
    } else {
        const char *b = j->b + (size_t)(j->tb ? lo * j->ldb : lo) * es;
        gemm_any(j->dt, j->ta, j->tb, j->m, hi - lo, j->k, j->alpha, j->a, j->lda, b, j->ldb,
                 j->beta, j->c + (size_t)lo * es, j->ldc);
    }
}

static void gemm_par(const cv_op_args_t *args, cv_dtype_t dt, bool ta, bool tb, int64_t m,
                     int64_t n, int64_t k, double alpha, const void *a, int64_t lda, const void *b,
                     int64_t ldb, double beta, void *c, int64_t ldc)
{
    gemm_job_t j = {.dt = dt, .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda,
                    .ldb = ldb, .ldc = ldc, .alpha = alpha, .beta = beta, .a = a, .b = b,
                    .c = c, .ntasks = 1};
    j.by_rows = m > n;
    if (m * n * k >= 4 * NN_MIN_PARALLEL_WORK)
        j.ntasks = CV_MAX(1, CV_MIN((j.by_rows ? m : n) / NN_GEMM_ALIGN, NN_GEMM_BLOCKS));
    cv_pool_run(nn_pool(args), j.ntasks, gemm_task, &j);
}

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
    gemm_par(args, y->dtype, ta, tb, m, n, k, alpha, a->data, a->shape.dims[1], b->data,
             b->shape.dims[1], use_c ? 1.0 : 0.0, y->data, n);
    if (y->dtype == CV_DTYPE_FP32)
        apply_activation_f32(args->node, y->data, m * n);
    else
        apply_activation_f64(args->node, y->data, m * n);
    return CV_STATUS_OK;
}

/* ---- MatMul ---------------------------------------------------------------- */

/* One [m,k] x [k,n] product into y (row-major, contiguous). */
static void matmul_one(const cv_op_args_t *args, cv_dtype_t dt, const void *a, const void *b,
                       void *y, int64_t m, int64_t n, int64_t k)
{
    gemm_par(args, dt, false, false, m, n, k, 1.0, a, k, b, n, 0.0, y, n);
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
        matmul_one(args, dt, pa, pb, py, nbatch * m, n, k);
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
            matmul_one(args, dt, pa + (size_t)(oa * m * k) * es, pb + (size_t)(ob * k * n) * es,
                       py + (size_t)(t * m * n) * es, m, n, k);
            for (int i = nb - 1; i >= 0; i--) {
                if (++idx[i] < batch.dims[i]) break;
                idx[i] = 0;
            }
        }
    }
    if (dt == CV_DTYPE_FP32)
        apply_activation_f32(args->node, y->data, nbatch * m * n);
    else
        apply_activation_f64(args->node, y->data, nbatch * m * n);
    return CV_STATUS_OK;
}

/* ---- MaxPool, AveragePool -------------------------------------------------- */

typedef cv_pool_geometry_t pool_geom_t;

/* Geometry from shapes validated by inference, so it cannot fail here. */
static void pool_geometry(const cv_node_t *node, const cv_tensor_t *x, const cv_tensor_t *y,
                          pool_geom_t *g)
{
    cv_err_t err;
    cv_status st = cv_pool_geometry(node, &x->shape, &y->shape, g, &err);
    CV_ASSERT(st == CV_STATUS_OK);
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

static int64_t pool_divisor(const pool_span_t *sp, bool include_pad)
{
    return include_pad ? sp->padded_count : sp->khi - sp->klo;
}

/* Direct pooling of planes [p0, p1): any rank, and the only path that
 * computes Indices (flattened over the whole input; column-major spatial
 * index when col_major, as storage_order=1 asks). */
static void pool_direct(const pool_geom_t *g, const pool_span_t *spans, const float *xs, float *ys,
                        int64_t *is, bool is_max, bool include_pad, bool col_major, int64_t p0,
                        int64_t p1)
{
    const pool_span_t *sd = spans, *sh = sd + g->out[0], *sw = sh + g->out[1];
    int64_t in_plane = g->in[0] * g->in[1] * g->in[2];
    int64_t out_plane = g->out[0] * g->out[1] * g->out[2];
    ys += p0 * out_plane;
    if (is) is += p0 * out_plane;
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = xs + p * in_plane;
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                const pool_span_t *a = &sd[od], *b = &sh[oh];
                for (int64_t ow = 0; ow < g->out[2]; ow++) {
                    const pool_span_t *c = &sw[ow];
                    float best = -INFINITY, sum = 0.0f;
                    int64_t at = -1;
                    for (int64_t kd = a->klo; kd < a->khi; kd++) {
                        int64_t id = a->start + kd * g->d[0];
                        for (int64_t kh = b->klo; kh < b->khi; kh++) {
                            int64_t ih = b->start + kh * g->d[1];
                            const float *row = xp + (id * g->in[1] + ih) * g->in[2];
                            for (int64_t kw = c->klo; kw < c->khi; kw++) {
                                int64_t iw = c->start + kw * g->d[2];
                                float v = row[iw];
                                sum += v;
                                if (v > best || at < 0) {
                                    best = v;
                                    at = col_major ? id + ih * g->in[0] + iw * g->in[0] * g->in[1]
                                                   : (id * g->in[1] + ih) * g->in[2] + iw;
                                }
                            }
                        }
                    }
                    if (is_max) {
                        *ys++ = best;
                        if (is) *is++ = at < 0 ? -1 : p * in_plane + at;
                    } else {
                        int64_t count = pool_divisor(a, include_pad) *
                                        pool_divisor(b, include_pad) * pool_divisor(c, include_pad);
                        *ys++ = count > 0 ? sum / (float)count : 0.0f;
                    }
                }
            }
    }
}

/* ---- separable 1-D/2-D pooling -------------------------------------------
 * Max and sum are separable: for each output row, the valid input rows of
 * its window are reduced into a row buffer, whose borders hold the neutral
 * element (-inf or 0) so that the horizontal pass over it needs no bounds
 * checks; that pass reads columns ox*s + kx*d of the buffer. Averages are
 * then scaled by 1/(rows counted * columns counted), also separable. */

typedef struct pool_rows {
    float *buf; /* cols floats; the input row lands at buf + left */
    int64_t cols, left;
    float neutral;
} pool_rows_t;

/* Floats of the row buffer, or -1 when the geometry makes it overflow (a
 * stride of 2^62 over a row of 7): pool_kernel then pools directly. */
static int64_t pool_rows_cols(const pool_geom_t *g)
{
    int64_t ow8 = (g->out[2] + 7) / 8 * 8, iw8 = (g->in[2] + 7) / 8 * 8;
    int64_t span, reads;
    /* vector reads of 8 outputs at stride s, deinterleaved from 16 floats */
    if (__builtin_mul_overflow(g->k[2] - 1, g->d[2], &span) ||
        __builtin_mul_overflow(ow8, g->s[2], &reads) ||
        __builtin_add_overflow(reads, span + 1 + 16, &reads))
        return -1;
    return CV_MAX(g->pb[2] + iw8, reads);
}

static void vreduce_scalar(float *dst, const float *const *rows, int nrows, int64_t w, bool is_max,
                           float neutral)
{
    for (int64_t c = 0; c < w; c++) {
        float v = neutral;
        for (int r = 0; r < nrows; r++) {
            float x = rows[r][c];
            v = is_max ? (x > v ? x : v) : v + x;
        }
        dst[c] = v;
    }
}

static void hreduce_scalar(float *out, const float *rb, const pool_geom_t *g, bool is_max,
                           const float *inv_w, float inv_h)
{
    int64_t s = g->s[2], d = g->d[2], k = g->k[2];
    for (int64_t ox = 0; ox < g->out[2]; ox++) {
        const float *p = rb + ox * s;
        float v = p[0];
        for (int64_t kx = 1; kx < k; kx++) {
            float x = p[kx * d];
            v = is_max ? (x > v ? x : v) : v + x;
        }
        out[ox] = is_max ? v : v * inv_h * inv_w[ox];
    }
}

#ifdef NN_X86
static bool have_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

__attribute__((target("avx2,fma"))) static inline __m256i lane_mask(int64_t n)
{
    const __m256i ramp = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), ramp);
}

__attribute__((target("avx2,fma"))) static inline __m256 reduce8(__m256 a, __m256 b, bool is_max)
{
    /* max returns its second operand when either is NaN: NaN propagates. */
    return is_max ? _mm256_max_ps(a, b) : _mm256_add_ps(a, b);
}

/* Rows reduced into dst[0, roundup(w, 8)); lanes past w get the neutral
 * element (dst's border). Inlined with constant is_max. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
vreduce_avx2_t(float *dst, const float *const *rows, int nrows, int64_t w, bool is_max,
               float neutral)
{
    __m256 vn = _mm256_set1_ps(neutral);
    for (int64_t c = 0; c < w; c += 8) {
        __m256 v = vn;
        if (c + 8 <= w) {
            for (int r = 0; r < nrows; r++) v = reduce8(_mm256_loadu_ps(rows[r] + c), v, is_max);
        } else {
            __m256i m = lane_mask(w - c);
            for (int r = 0; r < nrows; r++)
                v = reduce8(_mm256_blendv_ps(vn, _mm256_maskload_ps(rows[r] + c, m),
                                             _mm256_castsi256_ps(m)),
                            v, is_max);
        }
        _mm256_storeu_ps(dst + c, v);
    }
}

/* Even elements of p[0..16). */
__attribute__((target("avx2,fma"))) static inline __m256 even16(const float *p)
{
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
}

/* Horizontal pass at stride s (1 or 2). A partial last vector is stored in
 * full when the `room` floats left in the output allow (the spill is
 * overwritten by later rows and planes), else under a mask. Inlined with
 * constant is_max and s. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
hreduce_avx2_t(float *out, const float *rb, const pool_geom_t *g, bool is_max, const float *inv_w,
               float inv_h, int64_t room, const int64_t s)
{
    int64_t d = g->d[2], k = g->k[2], ow = g->out[2];
    __m256 vh = _mm256_set1_ps(inv_h);
    for (int64_t ox = 0; ox < ow; ox += 8) {
        const float *p = rb + ox * s;
        __m256 v = s == 1 ? _mm256_loadu_ps(p) : even16(p);
        for (int64_t kx = 1; kx < k; kx++)
            v = reduce8(s == 1 ? _mm256_loadu_ps(p + kx * d) : even16(p + kx * d), v, is_max);
        if (!is_max) {
            __m256i m = lane_mask(ow - ox);
            __m256 iw = _mm256_maskload_ps(inv_w + ox, m);
            v = _mm256_mul_ps(_mm256_mul_ps(v, vh), iw);
        }
        if (ox + 8 <= room)
            _mm256_storeu_ps(out + ox, v);
        else
            _mm256_maskstore_ps(out + ox, lane_mask(ow - ox), v);
    }
}

/* One output row: vertical then horizontal pass. */
__attribute__((target("avx2,fma"))) static void
pool_row_avx2(float *out, float *rb, int64_t left, const float *const *rows, int nrows,
              const pool_geom_t *g, bool is_max, const float *inv_w, float inv_h, int64_t room)
{
    if (is_max) {
        vreduce_avx2_t(rb + left, rows, nrows, g->in[2], true, -INFINITY);
        if (g->s[2] == 1)
            hreduce_avx2_t(out, rb, g, true, inv_w, inv_h, room, 1);
        else
            hreduce_avx2_t(out, rb, g, true, inv_w, inv_h, room, 2);
    } else {
        vreduce_avx2_t(rb + left, rows, nrows, g->in[2], false, 0.0f);
        if (g->s[2] == 1)
            hreduce_avx2_t(out, rb, g, false, inv_w, inv_h, room, 1);
        else
            hreduce_avx2_t(out, rb, g, false, inv_w, inv_h, room, 2);
    }
}
#endif

/* 1-D and 2-D pooling without Indices, planes [p0, p1) one by one. `work`
 * holds pool_rows_cols(g) + out[2] floats. */
static void pool_separable(const pool_geom_t *g, const pool_span_t *spans, const float *xs,
                           float *ys, bool is_max, bool include_pad, float *work, int64_t p0,
                           int64_t p1)
{
    const pool_span_t *sh = spans + g->out[0], *sw = sh + g->out[1];
    pool_rows_t rb = {.buf = work,
                      .cols = pool_rows_cols(g),
                      .left = g->pb[2],
                      .neutral = is_max ? -INFINITY : 0.0f};
    float *inv_w = work + rb.cols;
    for (int64_t i = 0; i < rb.cols; i++) rb.buf[i] = rb.neutral;
    for (int64_t ox = 0; ox < g->out[2]; ox++) {
        int64_t cnt = pool_divisor(&sw[ox], include_pad);
        inv_w[ox] = cnt > 0 ? 1.0f / (float)cnt : 0.0f;
    }
    bool avx2 = false;
#ifdef NN_X86
    avx2 = have_avx2() && (g->s[2] == 1 || g->s[2] == 2);
#endif
    int64_t in_plane = g->in[1] * g->in[2], out_plane = g->out[1] * g->out[2];
    /* Rows may spill into the rows after them up to the last plane of this
     * call, never further (the next planes may be another thread's). */
    float *end = ys + p1 * out_plane;
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = xs + p * in_plane;
        for (int64_t oy = 0; oy < g->out[1]; oy++) {
            const pool_span_t *b = &sh[oy];
            const float *rows[64];
            int nrows = 0;
            CV_ASSERT(b->khi - b->klo <= (int64_t)CV_ARRAY_LEN(rows));
            for (int64_t ky = b->klo; ky < b->khi; ky++)
                rows[nrows++] = xp + (b->start + ky * g->d[1]) * g->in[2];
            int64_t cnt = pool_divisor(b, include_pad);
            float inv_h = cnt > 0 ? 1.0f / (float)cnt : 0.0f;
            float *out = ys + p * out_plane + oy * g->out[2];
#ifdef NN_X86
            if (avx2) {
                pool_row_avx2(out, rb.buf, rb.left, rows, nrows, g, is_max, inv_w, inv_h,
                              end - out);
                continue;
            }
#endif
            vreduce_scalar(rb.buf + rb.left, rows, nrows, g->in[2], is_max, rb.neutral);
            hreduce_scalar(out, rb.buf, g, is_max, inv_w, inv_h);
        }
    }
    (void)avx2;
    (void)end;
}

typedef struct pool_job {
    const pool_geom_t *g;
    const pool_span_t *spans;
    const float *x;
    float *y;
    int64_t *ind;
    bool is_max, include_pad, col_major, separable;
    float *work; /* per thread, work_floats apart (separable) */
    int64_t work_floats, ntasks;
} pool_job_t;

static void pool_task(void *ctx, int64_t t, int thread)
{
    const pool_job_t *j = ctx;
    int64_t p0, p1;
    cv_pool_range(j->g->planes, j->ntasks, 1, t, &p0, &p1);
    if (j->separable)
        pool_separable(j->g, j->spans, j->x, j->y, j->is_max, j->include_pad,
                       j->work + thread * j->work_floats, p0, p1);
    else
        pool_direct(j->g, j->spans, j->x, j->y, j->ind, j->is_max, j->include_pad, j->col_major,
                    p0, p1);
}

static cv_status pool_kernel(const cv_op_args_t *args, bool is_max, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0], *ind = is_max ? opt_output(args, 1) : NULL;
    if (x->dtype != CV_DTYPE_FP32) return unsupported_dtype(args, x->dtype, err);
    pool_geom_t g;
    pool_geometry(args->node, x, y, &g);
    if (cv_shape_numel(&y->shape) == 0) return CV_STATUS_OK;
    pool_job_t j = {.g = &g, .x = x->data, .y = y->data, .ind = ind ? ind->data : NULL,
                    .is_max = is_max};
    j.include_pad = !is_max && cv_node_attr_int(args->node, "count_include_pad", 0) == 1;
    j.col_major = is_max && cv_node_attr_int(args->node, "storage_order", 0) == 1;
    /* The separable path keeps up to 64 window rows at once. */
    j.separable = !ind && g.in[0] == 1 && g.k[0] == 1 && g.k[1] <= 64;
    /* ...in a row buffer; one far wider than the padded row (a stride much
     * larger than the row) serves no output, and the direct path, which
     * reads only the taps inside the input, pools instead. */
    int64_t cols = j.separable ? pool_rows_cols(&g) : 0;
    if (cols < 0 || (cols - 64) / 2 > g.pb[2] + g.in[2] + g.pe[2]) j.separable = false;
    int64_t nspans = g.out[0] + g.out[1] + g.out[2];
    /* Spans, then each thread's work buffer, on whole cache lines. */
    int64_t nspan_floats = ((nspans * (int64_t)sizeof(pool_span_t) + 3) / 4 + 15) / 16 * 16;
    j.work_floats = j.separable ? (cols + g.out[2] + 15) / 16 * 16 : 0;
    int64_t window = g.k[0] * g.k[1] * g.k[2];
    j.ntasks = nn_tasks(args, cv_shape_numel(&y->shape) * window, g.planes);
    int threads = j.ntasks > 1 ? cv_pool_threads(nn_pool(args)) : 1;
    size_t floats = (size_t)(nspan_floats + threads * j.work_floats);
    float *scratch = cv_cpu_scratch(args->cpu, sizeof(float) * floats);
    if (!scratch)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for pooling tables");
    pool_span_t *spans = (pool_span_t *)scratch, *sp = spans;
    for (int i = 0; i < 3; i++)
        for (int64_t o = 0; o < g.out[i]; o++) *sp++ = pool_span(&g, i, o);
    j.spans = spans;
    j.work = scratch + nspan_floats;
    cv_pool_run(nn_pool(args), j.ntasks, pool_task, &j);
    return CV_STATUS_OK;
}

cv_status cv_cpu_max_pool(const cv_op_args_t *args, cv_err_t *err)
{
    return pool_kernel(args, true, err);
}

cv_status cv_cpu_average_pool(const cv_op_args_t *args, cv_err_t *err)
{
    return pool_kernel(args, false, err);
}

/* ---- GlobalAveragePool, GlobalMaxPool ------------------------------------- */

#ifdef NN_X86
__attribute__((target("avx2,fma"))) static float plane_reduce_avx2(const float *x, int64_t n,
                                                                   bool is_max)
{
    __m256 a = _mm256_set1_ps(is_max ? -INFINITY : 0.0f), b = a;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a = reduce8(_mm256_loadu_ps(x + i), a, is_max);
        b = reduce8(_mm256_loadu_ps(x + i + 8), b, is_max);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, reduce8(a, b, is_max));
    float v = lanes[0];
    for (int j = 1; j < 8; j++) v = is_max ? (lanes[j] > v ? lanes[j] : v) : v + lanes[j];
    for (; i < n; i++) v = is_max ? (x[i] > v ? x[i] : v) : v + x[i];
    return v;
}
#endif

static float plane_reduce(const float *x, int64_t n, bool is_max)
{
#ifdef NN_X86
    if (have_avx2()) return plane_reduce_avx2(x, n, is_max);
#endif
    /* Four partial results shorten the dependency chain. */
    float acc[4];
    for (int j = 0; j < 4; j++) acc[j] = is_max ? -INFINITY : 0.0f;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++)
            acc[j] = is_max ? (x[i + j] > acc[j] ? x[i + j] : acc[j]) : acc[j] + x[i + j];
    for (; i < n; i++) acc[0] = is_max ? (x[i] > acc[0] ? x[i] : acc[0]) : acc[0] + x[i];
    float v = acc[0];
    for (int j = 1; j < 4; j++) v = is_max ? (acc[j] > v ? acc[j] : v) : v + acc[j];
    return v;
}

typedef struct global_pool_job {
    const float *x;
    float *y;
    int64_t planes, plane, ntasks;
    bool is_max;
} global_pool_job_t;

static void global_pool_task(void *ctx, int64_t t, int thread)
{
    const global_pool_job_t *j = ctx;
    int64_t p0, p1;
    cv_pool_range(j->planes, j->ntasks, 1, t, &p0, &p1);
    for (int64_t p = p0; p < p1; p++) {
        float v = plane_reduce(j->x + p * j->plane, j->plane, j->is_max);
        j->y[p] = j->is_max ? v : (j->plane > 0 ? v / (float)j->plane : 0.0f);
    }
}

static cv_status global_pool(const cv_op_args_t *args, bool is_max, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0];
    if (x->dtype != CV_DTYPE_FP32) return unsupported_dtype(args, x->dtype, err);
    global_pool_job_t j = {.x = x->data, .y = args->outputs[0]->data, .is_max = is_max};
    j.planes = x->shape.dims[0] * x->shape.dims[1];
    j.plane = dims_product(&x->shape, 2, x->shape.ndim);
    j.ntasks = nn_tasks(args, j.planes * j.plane, j.planes);
    cv_pool_run(nn_pool(args), j.ntasks, global_pool_task, &j);
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
            /* The usual betas without powf: b^-0.75 = r * sqrt(r), r = b^-0.5. */
            if (beta == 0.75f) {
                for (int64_t j = 0; j < plane; j++) {
                    float r = 1.0f / sqrtf(bias + scale * sq[j]);
                    dst[j] = src[j] * r * sqrtf(r);
                }
            } else if (beta == 0.5f) {
                for (int64_t j = 0; j < plane; j++) dst[j] = src[j] / sqrtf(bias + scale * sq[j]);
            } else {
                for (int64_t j = 0; j < plane; j++)
                    dst[j] = src[j] * powf(bias + scale * sq[j], -beta);
            }
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
    cv_layer_norm_geometry_t g;
    cv_status st = cv_layer_norm_geometry(args->node, &x->shape, &g, err);
    if (st != CV_STATUS_OK) return st;
    float eps = cv_node_attr_float(args->node, "epsilon", 1e-5f);
    const cv_shape_t norm = g.norm;
    int64_t inner = g.inner, outer = g.outer;
    float *tmp = cv_cpu_scratch(args->cpu, sizeof(float) * (size_t)CV_MAX(2 * inner, 1));
    if (!tmp)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for LayerNormalization");
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
            for (int64_t i = 0; i < inner; i++)
                mx[i] = xs[j * inner + i] > mx[i] ? xs[j * inner + i] : mx[i];
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
    cv_softmax_geometry_t g;
    cv_status st = cv_softmax_geometry(args->node, &x->shape, &g, err);
    if (st != CV_STATUS_OK) return st;
    if (g.outer * g.len * g.inner == 0) return CV_STATUS_OK;
    float *acc = cv_cpu_scratch(args->cpu, sizeof(float) * (size_t)(2 * g.inner));
    if (!acc) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for softmax scratch");
    softmax_f32(x->data, args->outputs[0]->data, g.outer, g.len, g.inner, log_out, acc);
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
