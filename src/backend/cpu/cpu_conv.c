/*
 * cpu_conv.c: the CPU kernel of Conv (ONNX Conv, 1 to 3 spatial dims,
 * groups, strides, dilations, pads or auto_pad, optional bias, and the
 * activation the IR folded into the node).
 *
 * Shape legend: X [N, C, D, H, W], W [M, C/G, KD, KH, KW], Y [N, M, OD, OH,
 * OW]; 1-D and 2-D convolutions are 3-D ones with leading extents of 1.
 *
 * FP32 is where inference time goes, so it has three paths:
 *   pointwise  1x1 kernel, stride 1, no padding: Y_g = W_g * X_g is a GEMM
 *              straight on the input, no copy;
 *   depthwise  G == C == M, 2-D: a direct loop over a zero-padded copy of
 *              each input plane (so that no tap needs a bounds check),
 *              specialised for 3x3 at stride 1 and 2, with AVX2+FMA when the
 *              CPU has them;
 *   general    im2col into scratch (by bands of output rows, or the whole
 *              matrix), then a GEMM per group per batch row.
 * Each path splits its work over the CPU context's thread pool (see
 * "splitting over the pool" below); a GEMM is a set of blocks, each one
 * single-threaded cblas_sgemm (OpenBLAS runs on one thread). A block's bias,
 * fused residual (a residual Add folded into the Conv at load,
 * src/plan/fuse.c) and activation are applied in one pass right after its
 * GEMM, while it is in cache; the depthwise loop applies bias and
 * activation as it writes (with a residual: bias as it writes, then one
 * pass for residual and activation). FP64 takes a
 * naive direct loop: it is for constant folding and exactness, not speed.
 *
 * AVX2+FMA versions are chosen at run time (the build targets x86-64-v2);
 * defining CARAVEL_NO_SIMD at build time keeps only the portable loops, so
 * that they can be tested on any machine.
 */
#include "backend/nn_geometry.h"
#include "backend/window.h"
#include "backend/cpu/cpu.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CARAVEL_NO_SIMD)
#include <immintrin.h>
#define CONV_X86 1
#endif

/* The whole im2col matrix is built at once when it holds at most
 * CONV_COL_BUDGET floats; a band (one per thread at a time) holds at most
 * CONV_BAND_BUDGET. */
#define CONV_COL_BUDGET (1 << 20)
#define CONV_BAND_BUDGET (1 << 18)

/* ---- geometry ------------------------------------------------------------ */

typedef cv_conv_geometry_t conv_geom_t;

static void conv_geometry(const cv_node_t *node, const cv_tensor_t *x, const cv_tensor_t *w,
                          const cv_tensor_t *y, conv_geom_t *g)
{
    cv_conv_geometry(node, &x->shape, &w->shape, &y->shape, g);
}

/* ---- bias and activation ------------------------------------------------- */

/* The fused activation as a clamp to [lo, hi] (src/backend/nn_geometry.c,
 * as the CUDA kernels read it). */
typedef cv_clamp_t clamp_t;

static inline float clamp_f32(float v, const clamp_t *c)
{
    return cv_clamp_f32(v, c->lo, c->hi);
}

#ifdef CONV_X86
static bool have_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* y = clamp((y + bias) + res) over n floats (res NULL: no residual). */
__attribute__((target("avx2,fma"))) static void bias_clamp_avx2(float *y, int64_t n, float bias,
                                                                const float *res, const clamp_t *c)
{
    __m256 vb = _mm256_set1_ps(bias), lo = _mm256_set1_ps(c->lo), hi = _mm256_set1_ps(c->hi);
    int64_t i = 0;
    /* max/min return their second operand when either is NaN. */
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(y + i), vb);
        if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + i));
        _mm256_storeu_ps(y + i, _mm256_min_ps(hi, _mm256_max_ps(lo, v)));
    }
    for (; i < n; i++) y[i] = clamp_f32(res ? (y[i] + bias) + res[i] : y[i] + bias, c);
}
#endif

/* Adds each channel's bias (when there is one), then the fused residual
 * (res, laid out as y; NULL: none), and applies the activation (when there
 * is one) in one pass over `rows` channel blocks of `n` floats, `ld` apart,
 * while the GEMM's output block is still in cache. The sums run in the
 * order the unfused Conv, Add and Relu would take, so results are the same
 * bits. */
static void bias_clamp_rows_f32(float *y, int64_t rows, int64_t n, int64_t ld, const float *bias,
                                const float *res, const clamp_t *c)
{
    if (!bias && !res && !c->active) return;
    for (int64_t r = 0; r < rows; r++) {
        float b = bias ? bias[r] : 0.0f, *yr = y + r * ld;
        const float *rr = res ? res + r * ld : NULL;
#ifdef CONV_X86
        if (have_avx2()) {
            bias_clamp_avx2(yr, n, b, rr, c);
            continue;
        }
#endif
        for (int64_t i = 0; i < n; i++) yr[i] = clamp_f32(rr ? (yr[i] + b) + rr[i] : yr[i] + b, c);
    }
}

/* y = clamp(y + res) over n floats: the residual of the paths that apply
 * bias as they compute (depthwise, FP64), which then run unclamped. */
static void residual_clamp_f32(float *y, const float *res, int64_t n, const clamp_t *c)
{
    for (int64_t i = 0; i < n; i++) y[i] = clamp_f32(y[i] + res[i], c);
}

/* ---- splitting over the pool ------------------------------------------------
 * Every FP32 path splits its work into tasks of the CPU context's pool:
 * depthwise by channel planes, the GEMM paths by blocks of output columns
 * or rows, each block one single-threaded OpenBLAS call (at these sizes
 * that beats OpenBLAS's own threads on every GEMM of MobileNetV2 and
 * SqueezeNet 1.1, and does not collapse when another process holds a
 * core). Tasks write disjoint outputs, and how a GEMM is cut depends on
 * its shape alone, so results are the same bits whatever the number of
 * threads. */

/* Below this many multiply-adds a conv runs on one thread: handing work to
 * the pool (a few us) would cost more than it saves. */
#define CONV_MIN_PARALLEL_MACS (1 << 16)
/* Tasks per thread where work comes in many equal pieces (planes, bands):
 * enough that a thread that starts late, or shares its core with another
 * process, just takes fewer of them. */
#define CONV_TASKS_PER_THREAD 4
/* GEMM outputs wider than GEMM_WIDE_COLS are cut into blocks of about
 * GEMM_BLOCK_COLS columns whatever the thread count: single-threaded
 * OpenBLAS runs such blocks 10-25% faster than the whole width (measured
 * on MobileNetV2 and SqueezeNet shapes). */
#define GEMM_WIDE_COLS 1024
#define GEMM_BLOCK_COLS 384
/* Narrower GEMMs are cut into this many blocks (two per thread on two
 * cores), or fewer where blocks of rows would be thinner than
 * GEMM_MIN_ROWS; outputs narrower than GEMM_NARROW_COLS (7x7 and smaller
 * planes) always go by rows. */
#define GEMM_BLOCKS 4
#define GEMM_MIN_ROWS 32
#define GEMM_NARROW_COLS 128
/* Blocks start at multiples of these (OpenBLAS's register tiles, and whole
 * cache lines of rows whose length is a multiple of 16). */
#define GEMM_ROW_ALIGN 16
#define GEMM_COL_ALIGN 16

static cv_pool_t *conv_pool(const cv_cpu_ctx_t *cpu)
{
    return cpu ? cpu->pool : NULL;
}

/* How many tasks a loop over `pieces` equal pieces of `macs` multiply-adds
 * in all is cut into. */
static int64_t conv_tasks(const cv_cpu_ctx_t *cpu, int64_t macs, int64_t pieces)
{
    int threads = cv_pool_threads(conv_pool(cpu));
    if (threads <= 1 || macs < CONV_MIN_PARALLEL_MACS || pieces < 2) return 1;
    return CV_MIN(pieces, (int64_t)threads * CONV_TASKS_PER_THREAD);
}

/* How an M x N GEMM output (inner dimension K) is cut: into `ntasks` blocks
 * of whole rows (by_rows) or of whole columns. Each block's OpenBLAS call
 * packs the whole of the operand that is not cut (X [K, N] for row blocks,
 * W [M, K] for column blocks), so the cut runs along the longer of M and
 * N; wide outputs always go by columns. Chosen from timings of every GEMM
 * of MobileNetV2 and SqueezeNet 1.1 on two threads against OpenBLAS's own
 * two threads, which lost on each.
 *
 * The cut depends on the shape alone, never on the thread count: OpenBLAS
 * does not round every element the same way in a block as in the whole
 * product (its edge tiles and small-matrix kernels sum differently), so
 * only a fixed cut keeps results identical whatever the thread count. */
typedef struct gemm_plan {
    bool by_rows;
    int64_t ntasks;
} gemm_plan_t;

static gemm_plan_t gemm_plan(int64_t m, int64_t n, int64_t k)
{
    gemm_plan_t p = {false, 1};
    if (n >= GEMM_WIDE_COLS) {
        p.ntasks = (n + GEMM_BLOCK_COLS - 1) / GEMM_BLOCK_COLS;
    } else if (m * n * k < CONV_MIN_PARALLEL_MACS) {
        p.ntasks = 1;
    } else if (n < GEMM_NARROW_COLS || m > n) {
        p.by_rows = true;
        p.ntasks = CV_MIN(m / GEMM_MIN_ROWS, GEMM_BLOCKS);
    } else {
        p.ntasks = CV_MIN(n / GEMM_COL_ALIGN, GEMM_BLOCKS);
    }
    if (p.ntasks < 1) p.ntasks = 1;
    return p;
}

/* One GEMM of a conv: Y = clamp(bias + W X + res), W [M, K] (row pitch
 * K), X [K, N] (pitch ldx), Y [M, N] (pitch ldy), bias [M] or NULL, res
 * laid out as Y or NULL. */
typedef struct conv_gemm {
    const float *w, *x, *bias, *res;
    float *y;
    const clamp_t *c;
    int64_t m, n, k, ldx, ldy;
} conv_gemm_t;

/* Rows [m0, m1) x columns [n0, n1) of a conv GEMM, then bias and
 * activation in one pass while the block is still in cache. A 1-column
 * product (a 1x1 plane, squeeze-excite blocks) goes to gemv, several times
 * faster there; gemv may scale y by beta rather than overwrite it, so y is
 * cleared first. */
static void conv_gemm_block(const conv_gemm_t *j, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    int64_t rows = m1 - m0, cols = n1 - n0;
    if (rows <= 0 || cols <= 0) return;
    float *y = j->y + m0 * j->ldy + n0;
    const float *w = j->w + m0 * j->k, *x = j->x + n0;
    if (j->n == 1) {
        for (int64_t r = 0; r < rows; r++) y[r * j->ldy] = 0.0f;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, (int)j->k, 1.0f, w, (int)j->k, x,
                    (int)j->ldx, 1.0f, y, (int)j->ldy);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)cols, (int)j->k,
                    1.0f, w, (int)j->k, x, (int)j->ldx, 0.0f, y, (int)j->ldy);
    }
    bias_clamp_rows_f32(y, rows, cols, j->ldy, j->bias ? j->bias + m0 : NULL,
                        j->res ? j->res + m0 * j->ldy + n0 : NULL, j->c);
}

typedef struct conv_gemm_job {
    const conv_gemm_t *gemm;
    gemm_plan_t plan;
} conv_gemm_job_t;

static void conv_gemm_task(void *ctx, int64_t t, int thread)
{
    const conv_gemm_job_t *job = ctx;
    const conv_gemm_t *j = job->gemm;
    int64_t b, e;
    if (job->plan.by_rows) {
        cv_pool_range(j->m, job->plan.ntasks, GEMM_ROW_ALIGN, t, &b, &e);
        conv_gemm_block(j, b, e, 0, j->n);
    } else {
        cv_pool_range(j->n, job->plan.ntasks, GEMM_COL_ALIGN, t, &b, &e);
        conv_gemm_block(j, 0, j->m, b, e);
    }
}

/* Runs a conv GEMM over the pool. */
static void conv_gemm_run(const cv_op_args_t *args, const conv_gemm_t *j)
{
    conv_gemm_job_t job = {.gemm = j, .plan = gemm_plan(j->m, j->n, j->k)};
    cv_pool_run(conv_pool(args->cpu), job.plan.ntasks, conv_gemm_task, &job);
}

/* ---- depthwise ----------------------------------------------------------- */

/* A zero-padded copy of one input plane: the window of output (oy, ox)
 * starts at row oy*s, column ox*s, and every tap is in bounds, including
 * those of the vector loads past the last output column. Only the interior
 * is rewritten per plane; the borders stay zero. */
typedef struct padded_plane {
    float *buf;
    int64_t rows, cols; /* cols is the row pitch */
    int64_t top, left;
} padded_plane_t;

static void padded_plane_size(const conv_geom_t *g, int64_t *rows, int64_t *cols)
{
    int64_t ow8 = (g->out[2] + 7) / 8 * 8;
    int64_t span_h = (g->k[1] - 1) * g->d[1] + 1, span_w = (g->k[2] - 1) * g->d[2] + 1;
    *rows = CV_MAX(g->p[1] + g->in[1], (g->out[1] - 1) * g->s[1] + span_h);
    /* A vector of 8 outputs at stride s reads 8*s + span columns; a row's
     * copy may store whole vectors (the tail's extra lanes are zeros). */
    int64_t iw8 = (g->in[2] + 7) / 8 * 8;
    *cols = CV_MAX(g->p[2] + iw8, ow8 * g->s[2] + span_w);
}

static void padded_plane_fill(padded_plane_t *pp, const float *x, int64_t h, int64_t w)
{
    for (int64_t r = 0; r < h; r++) {
        float *dst = pp->buf + (pp->top + r) * pp->cols + pp->left;
        const float *src = x + r * w;
        for (int64_t i = 0; i < w; i++) dst[i] = src[i];
    }
}

/* Generic depthwise plane: any kernel, stride, dilation. */
static void dw_plane_generic(float *y, const padded_plane_t *pp, const float *wk,
                             const conv_geom_t *g, float bias, const clamp_t *c)
{
    int64_t ow = g->out[2], s = g->s[2];
    for (int64_t oy = 0; oy < g->out[1]; oy++) {
        float *out = y + oy * ow;
        for (int64_t ox = 0; ox < ow; ox++) out[ox] = bias;
        for (int64_t ky = 0; ky < g->k[1]; ky++) {
            const float *row = pp->buf + (oy * g->s[1] + ky * g->d[1]) * pp->cols;
            for (int64_t kx = 0; kx < g->k[2]; kx++) {
                float wv = wk[ky * g->k[2] + kx];
                const float *src = row + kx * g->d[2];
                for (int64_t ox = 0; ox < ow; ox++) out[ox] += wv * src[ox * s];
            }
        }
        for (int64_t ox = 0; ox < ow; ox++) out[ox] = clamp_f32(out[ox], c);
    }
}

/* 3x3 plane at stride s (1 or 2), scalar. */
static void dw3x3_plane_scalar(float *y, const padded_plane_t *pp, const float *wk,
                               const conv_geom_t *g, float bias, const clamp_t *c)
{
    int64_t ow = g->out[2], s = g->s[2];
    for (int64_t oy = 0; oy < g->out[1]; oy++) {
        const float *r0 = pp->buf + oy * s * pp->cols, *r1 = r0 + pp->cols, *r2 = r1 + pp->cols;
        float *out = y + oy * ow;
        for (int64_t ox = 0; ox < ow; ox++) {
            int64_t i = ox * s;
            float acc = bias;
            acc += wk[0] * r0[i] + wk[1] * r0[i + 1] + wk[2] * r0[i + 2];
            acc += wk[3] * r1[i] + wk[4] * r1[i + 1] + wk[5] * r1[i + 2];
            acc += wk[6] * r2[i] + wk[7] * r2[i + 1] + wk[8] * r2[i + 2];
            out[ox] = clamp_f32(acc, c);
        }
    }
}

#ifdef CONV_X86
/* Lanes [0, n) of a vector, as a maskload/maskstore mask. */
__attribute__((target("avx2,fma"))) static inline __m256i lane_mask(int64_t n)
{
    const __m256i ramp = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), ramp);
}

/* Even and odd elements of p[0..16). */
__attribute__((target("avx2,fma"))) static inline void deinterleave16(const float *p, __m256 *even,
                                                                      __m256 *odd)
{
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
}

__attribute__((target("avx2,fma"))) static void
padded_plane_fill_avx2(padded_plane_t *pp, const float *x, int64_t h, int64_t w)
{
    for (int64_t r = 0; r < h; r++) {
        float *dst = pp->buf + (pp->top + r) * pp->cols + pp->left;
        const float *src = x + r * w;
        int64_t i = 0;
        for (; i + 8 <= w; i += 8) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
        /* The tail's masked-off lanes load as zero and land in the zero
         * border (padded_plane_size makes it wide enough). */
        if (i < w) _mm256_storeu_ps(dst + i, _mm256_maskload_ps(src + i, lane_mask(w - i)));
    }
}

/* 3x3 plane at stride S (1 or 2; a constant once inlined). A partial last
 * vector of a row is stored in full, spilling into the rows after it, which
 * are written afterwards (later planes too); where a full store would pass
 * the `room` floats left in the output from y on, it goes under a mask. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
dw3x3_plane_avx2_s(float *y, const padded_plane_t *pp, const float *wk, const conv_geom_t *g,
                   float bias, const clamp_t *c, int64_t room, const int64_t S)
{
    int64_t oh = g->out[1], ow = g->out[2], pitch = pp->cols;
    __m256 w0 = _mm256_broadcast_ss(wk + 0), w1 = _mm256_broadcast_ss(wk + 1);
    __m256 w2 = _mm256_broadcast_ss(wk + 2), w3 = _mm256_broadcast_ss(wk + 3);
    __m256 w4 = _mm256_broadcast_ss(wk + 4), w5 = _mm256_broadcast_ss(wk + 5);
    __m256 w6 = _mm256_broadcast_ss(wk + 6), w7 = _mm256_broadcast_ss(wk + 7);
    __m256 w8 = _mm256_broadcast_ss(wk + 8);
    __m256 vb = _mm256_set1_ps(bias), lo = _mm256_set1_ps(c->lo), hi = _mm256_set1_ps(c->hi);
    __m256i tail = lane_mask(ow % 8);
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *r0 = pp->buf + oy * S * pitch, *r1 = r0 + pitch, *r2 = r1 + pitch;
        float *out = y + oy * ow;
        for (int64_t ox = 0; ox < ow; ox += 8) {
            __m256 a, b;
            if (S == 1) {
                a = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + ox), w0, vb);
                b = _mm256_mul_ps(_mm256_loadu_ps(r0 + ox + 1), w1);
                a = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + ox + 2), w2, a);
                b = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + ox), w3, b);
                a = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + ox + 1), w4, a);
                b = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + ox + 2), w5, b);
                a = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + ox), w6, a);
                b = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + ox + 1), w7, b);
                a = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + ox + 2), w8, a);
            } else {
                __m256 e, o, e2, unused;
                int64_t i = 2 * ox;
                deinterleave16(r0 + i, &e, &o);
                deinterleave16(r0 + i + 2, &e2, &unused);
                a = _mm256_fmadd_ps(e, w0, vb);
                b = _mm256_mul_ps(o, w1);
                a = _mm256_fmadd_ps(e2, w2, a);
                deinterleave16(r1 + i, &e, &o);
                deinterleave16(r1 + i + 2, &e2, &unused);
                b = _mm256_fmadd_ps(e, w3, b);
                a = _mm256_fmadd_ps(o, w4, a);
                b = _mm256_fmadd_ps(e2, w5, b);
                deinterleave16(r2 + i, &e, &o);
                deinterleave16(r2 + i + 2, &e2, &unused);
                a = _mm256_fmadd_ps(e, w6, a);
                b = _mm256_fmadd_ps(o, w7, b);
                a = _mm256_fmadd_ps(e2, w8, a);
            }
            /* max/min return their second operand when either is NaN. */
            __m256 v = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(a, b)));
            if (ox + 8 <= ow || oy * ow + ox + 8 <= room)
                _mm256_storeu_ps(out + ox, v);
            else
                _mm256_maskstore_ps(out + ox, tail, v);
        }
    }
}

__attribute__((target("avx2,fma"))) static void dw3x3_plane_avx2(float *y, const padded_plane_t *pp,
                                                                 const float *wk,
                                                                 const conv_geom_t *g, float bias,
                                                                 const clamp_t *c, int64_t room)
{
    if (g->s[2] == 1)
        dw3x3_plane_avx2_s(y, pp, wk, g, bias, c, room, 1);
    else
        dw3x3_plane_avx2_s(y, pp, wk, g, bias, c, room, 2);
}
#endif

/* Planes [p0, p1) of the depthwise conv, one task of the pool; each thread
 * has its own padded plane. */
typedef struct dw_job {
    const conv_geom_t *g;
    const float *x, *w, *b;
    float *y;
    const clamp_t *c;
    float *bufs;      /* one padded plane per thread, buf_floats apart */
    int64_t buf_floats;
    int64_t rows, cols; /* of a padded plane */
    int64_t ntasks;
    bool k3, avx2;
} dw_job_t;

static void dw_task(void *ctx, int64_t t, int thread)
{
    const dw_job_t *j = ctx;
    const conv_geom_t *g = j->g;
    padded_plane_t pp = {.buf = j->bufs + thread * j->buf_floats,
                         .rows = j->rows,
                         .cols = j->cols,
                         .top = g->p[1],
                         .left = g->p[2]};
    int64_t p0, p1;
    cv_pool_range(g->n * g->c, j->ntasks, 1, t, &p0, &p1);
    int64_t in_plane = g->in[1] * g->in[2], out_plane = g->out[1] * g->out[2];
    int64_t kk = g->k[1] * g->k[2];
    for (int64_t i = p0; i < p1; i++) {
        int64_t ch = i % g->c;
        const float *xp = j->x + i * in_plane, *wk = j->w + ch * kk;
        float *yp = j->y + i * out_plane, bias = j->b ? j->b[ch] : 0.0f;
#ifdef CONV_X86
        if (j->avx2 && j->k3) {
            padded_plane_fill_avx2(&pp, xp, g->in[1], g->in[2]);
            /* Planes of a task are written in order, so a plane may spill
             * into the next one of the same task, never past the task's
             * last plane (another thread's). */
            int64_t room = (p1 - i) * out_plane;
            dw3x3_plane_avx2(yp, &pp, wk, g, bias, j->c, room);
            continue;
        }
#endif
        padded_plane_fill(&pp, xp, g->in[1], g->in[2]);
        if (j->k3)
            dw3x3_plane_scalar(yp, &pp, wk, g, bias, j->c);
        else
            dw_plane_generic(yp, &pp, wk, g, bias, j->c);
    }
}

static cv_status conv_depthwise_f32(const cv_op_args_t *args, const conv_geom_t *g, const float *x,
                                    const float *w, const float *b, float *y, const clamp_t *c,
                                    cv_err_t *err)
{
    dw_job_t j = {.g = g, .x = x, .w = w, .b = b, .y = y, .c = c};
    padded_plane_size(g, &j.rows, &j.cols);
    /* Whole cache lines per thread, so that threads never share one. */
    j.buf_floats = (j.rows * j.cols + 15) / 16 * 16;
    int64_t planes = g->n * g->c;
    j.ntasks = conv_tasks(args->cpu, planes * g->out[1] * g->out[2] * g->k[1] * g->k[2], planes);
    int threads = j.ntasks > 1 ? cv_pool_threads(conv_pool(args->cpu)) : 1;
    size_t bytes = sizeof(float) * (size_t)(j.buf_floats * threads);
    j.bufs = cv_cpu_scratch(args->cpu, bytes);
    if (!j.bufs) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for Conv scratch");
    memset(j.bufs, 0, bytes);
    j.k3 = g->k[1] == 3 && g->k[2] == 3 && g->d[1] == 1 && g->d[2] == 1 && g->s[1] == g->s[2] &&
           (g->s[1] == 1 || g->s[1] == 2);
#ifdef CONV_X86
    j.avx2 = have_avx2();
#endif
    cv_pool_run(conv_pool(args->cpu), j.ntasks, dw_task, &j);
    return CV_STATUS_OK;
}

/* ---- im2col + GEMM ------------------------------------------------------- */

#ifdef CONV_X86
/* o[i] = src[2*i] for i in [0, count), with `avail` floats readable from
 * src; vectors stop where their 16-float read would pass them. */
__attribute__((target("avx2,fma"))) static void gather_s2_avx2(float *o, const float *src,
                                                               int64_t count, int64_t avail)
{
    int64_t i = 0;
    for (; i + 8 <= count && 2 * i + 16 <= avail; i += 8) {
        __m256 even, odd;
        deinterleave16(src + 2 * i, &even, &odd);
        _mm256_storeu_ps(o + i, even);
    }
    for (; i < count; i++) o[i] = src[2 * i];
}
#endif

/* One matrix row of im2col_f32 where the output rows are as wide as the
 * input rows and both strides are 1 ("same" convolutions of 2-D planes):
 * the taps of consecutive output rows are then consecutive input rows, so
 * the whole stretch of in-bounds rows is one copy of the plane, shifted by
 * `shift`; only the columns outside [lo, hi) (which wrap into the
 * neighbouring input row) and the out-of-bounds rows are then zeroed. */
static void im2col_rows_contiguous(const float *xc, const conv_geom_t *g, int64_t kd, int64_t kh,
                                   int64_t shift, int64_t lo, int64_t hi, int64_t row0,
                                   int64_t nrows, float *dst)
{
    int64_t ih_n = g->in[1], w = g->out[2];
    (void)kd;
    /* Output rows whose tap row lands inside the input. */
    int64_t off = kh * g->d[1] - g->p[1];
    int64_t v0 = CV_MAX(row0, -off), v1 = CV_MIN(row0 + nrows, ih_n - off);
    if (v1 < v0) v1 = v0;
    if (v0 > row0) memset(dst, 0, sizeof(float) * (size_t)((v0 - row0) * w));
    if (v1 < row0 + nrows)
        memset(dst + (v1 - row0) * w, 0, sizeof(float) * (size_t)((row0 + nrows - v1) * w));
    if (v1 == v0) return;
    /* dst[j] = base[j + shift] over the in-bounds rows, reading only inside
     * them: the elements a negative or positive shift would read past the
     * ends are columns outside [lo, hi), zeroed below. */
    const float *base = xc + (v0 + off) * w;
    float *out = dst + (v0 - row0) * w;
    int64_t n = (v1 - v0) * w, j0 = shift < 0 ? -shift : 0, j1 = shift > 0 ? n - shift : n;
    if (j1 > j0) memcpy(out + j0, base + j0 + shift, sizeof(float) * (size_t)(j1 - j0));
    for (int64_t r = 0; r < v1 - v0; r++) {
        float *o = out + r * w;
        for (int64_t ox = 0; ox < lo; ox++) o[ox] = 0.0f;
        for (int64_t ox = hi; ox < w; ox++) o[ox] = 0.0f;
    }
}

/* Columns [row0*OW, (row0+nrows)*OW) of the rows of channels [c0, c1) of
 * the im2col matrix of one group (x points at the group's first channel),
 * written `ld` floats apart per matrix row from col on. Rows of the matrix
 * run over (c, kd, kh, kw); an output "row" is one (od, oh) pair. */
static void im2col_f32(const float *x, const conv_geom_t *g, int64_t c0, int64_t c1, int64_t row0,
                       int64_t nrows, float *col, int64_t ld)
{
    int64_t id_n = g->in[0], ih_n = g->in[1], iw_n = g->in[2];
    int64_t oh_n = g->out[1], ow_n = g->out[2];
    float *dst = col;
    bool avx2 = false;
#ifdef CONV_X86
    avx2 = have_avx2();
#endif
    (void)avx2;
    bool contiguous = id_n == 1 && g->out[0] == 1 && g->s[1] == 1 && g->s[2] == 1 && ow_n == iw_n;
    for (int64_t c = c0; c < c1; c++) {
        const float *xc = x + c * id_n * ih_n * iw_n;
        for (int64_t kd = 0; kd < g->k[0]; kd++)
            for (int64_t kh = 0; kh < g->k[1]; kh++)
                for (int64_t kw = 0; kw < g->k[2]; kw++, dst += ld) {
                    /* Output columns whose tap lands inside the row. */
                    int64_t shift = kw * g->d[2] - g->p[2], sw = g->s[2];
                    int64_t lo = shift >= 0 ? 0 : (-shift + sw - 1) / sw;
                    int64_t hi = iw_n - shift <= 0 ? 0 : (iw_n - shift + sw - 1) / sw;
                    if (hi > ow_n) hi = ow_n;
                    if (lo > hi) lo = hi;
                    if (contiguous) {
                        im2col_rows_contiguous(xc, g, kd, kh, shift, lo, hi, row0, nrows, dst);
                        continue;
                    }
                    for (int64_t r = 0; r < nrows; r++) {
                        int64_t od = (row0 + r) / oh_n, oh = (row0 + r) % oh_n;
                        int64_t id = od * g->s[0] + kd * g->d[0] - g->p[0];
                        int64_t ih = oh * g->s[1] + kh * g->d[1] - g->p[1];
                        float *o = dst + r * ow_n;
                        if (id < 0 || id >= id_n || ih < 0 || ih >= ih_n) {
                            memset(o, 0, sizeof(float) * (size_t)ow_n);
                            continue;
                        }
                        const float *src = xc + (id * ih_n + ih) * iw_n;
                        for (int64_t ox = 0; ox < lo; ox++) o[ox] = 0.0f;
                        if (sw == 1) {
                            memcpy(o + lo, src + lo + shift, sizeof(float) * (size_t)(hi - lo));
#ifdef CONV_X86
                        } else if (sw == 2 && avx2) {
                            int64_t first = 2 * lo + shift;
                            gather_s2_avx2(o + lo, src + first, hi - lo, iw_n - first);
#endif
                        } else {
                            for (int64_t ox = lo; ox < hi; ox++) o[ox] = src[ox * sw + shift];
                        }
                        for (int64_t ox = hi; ox < ow_n; ox++) o[ox] = 0.0f;
                    }
                }
    }
}

/* The im2col path of one group of one batch row. Two ways to split it:
 *   bands   each task builds the im2col matrix of a band of output rows in
 *           its thread's buffer and multiplies it at once (a column split
 *           of the GEMM, the band still in cache);
 *   rows    the tasks first build the whole matrix, band by band, then
 *           split the GEMM by output channels (gemm_plan's choice for
 *           narrow outputs with many channels), when the matrix fits the
 *           scratch budget. */
typedef struct im2col_job {
    const conv_geom_t *g;
    const float *x;    /* the group's first input channel */
    conv_gemm_t gemm;  /* the group's whole GEMM */
    float *col;        /* thread buffers (bands) or the whole matrix (rows) */
    int64_t col_floats; /* per thread buffer (bands) */
    int64_t band, ntasks;
} im2col_job_t;

static void im2col_band_task(void *ctx, int64_t t, int thread)
{
    const im2col_job_t *j = ctx;
    int64_t ow = j->g->out[2], rows = j->g->out[0] * j->g->out[1];
    int64_t r0 = t * j->band;
    int64_t nr = CV_MIN(j->band, rows - r0), ncols = nr * ow;
    float *col = j->col + thread * j->col_floats;
    im2col_f32(j->x, j->g, 0, j->g->cg, r0, nr, col, ncols);
    conv_gemm_t band = j->gemm;
    band.x = col;
    band.ldx = ncols;
    band.y = j->gemm.y + r0 * ow;
    band.res = j->gemm.res ? j->gemm.res + r0 * ow : NULL;
    conv_gemm_block(&band, 0, band.m, 0, ncols);
}

/* Channels [c0, c1) of the whole matrix: a task writes whole matrix rows,
 * one stretch of memory, sharing no cache line with another task but at
 * its two ends. */
static void im2col_fill_task(void *ctx, int64_t t, int thread)
{
    const im2col_job_t *j = ctx;
    const conv_geom_t *g = j->g;
    int64_t cols = g->out[0] * g->out[1] * g->out[2], kk = g->k[0] * g->k[1] * g->k[2];
    int64_t c0, c1;
    cv_pool_range(g->cg, j->ntasks, 1, t, &c0, &c1);
    if (c1 > c0)
        im2col_f32(j->x, g, c0, c1, 0, g->out[0] * g->out[1], j->col + c0 * kk * cols, cols);
}

static cv_status conv_im2col_f32(const cv_op_args_t *args, const conv_geom_t *g, const float *x,
                                 const float *w, const float *b, const float *res, float *y,
                                 const clamp_t *c, cv_err_t *err)
{
    int64_t kdim = g->cg * g->k[0] * g->k[1] * g->k[2];
    int64_t rows = g->out[0] * g->out[1], ow = g->out[2], out_plane = rows * ow;
    int64_t in_plane = g->in[0] * g->in[1] * g->in[2];
    cv_pool_t *pool = conv_pool(args->cpu);
    int threads = cv_pool_threads(pool);
    gemm_plan_t plan = gemm_plan(g->mg, out_plane, kdim);
    bool by_rows = plan.by_rows && kdim * out_plane <= CONV_COL_BUDGET;
    im2col_job_t j = {.g = g};
    size_t floats;
    if (by_rows) {
        floats = (size_t)(kdim * out_plane);
        j.ntasks = conv_tasks(args->cpu, kdim * out_plane, g->cg);
    } else {
        j.band = (rows + plan.ntasks - 1) / plan.ntasks;
        j.band = CV_MAX(1, CV_MIN(j.band, CONV_BAND_BUDGET / (kdim * ow)));
        j.ntasks = (rows + j.band - 1) / j.band;
        /* Whole cache lines per thread, so that threads never share one. */
        j.col_floats = (kdim * j.band * ow + 15) / 16 * 16;
        floats = (size_t)(j.col_floats * (j.ntasks > 1 ? threads : 1));
    }
    j.col = cv_cpu_scratch(args->cpu, sizeof(float) * floats);
    if (!j.col) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for Conv scratch");
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t gi = 0; gi < g->group; gi++) {
            j.x = x + (n * g->c + gi * g->cg) * in_plane;
            j.gemm = (conv_gemm_t){.w = w + gi * g->mg * kdim,
                                   .bias = b ? b + gi * g->mg : NULL,
                                   .res = res ? res + (n * g->m + gi * g->mg) * out_plane : NULL,
                                   .y = y + (n * g->m + gi * g->mg) * out_plane,
                                   .c = c,
                                   .m = g->mg,
                                   .n = out_plane,
                                   .k = kdim,
                                   .ldy = out_plane};
            if (by_rows) {
                cv_pool_run(pool, j.ntasks, im2col_fill_task, &j);
                j.gemm.x = j.col;
                j.gemm.ldx = out_plane;
                conv_gemm_run(args, &j.gemm);
            } else {
                cv_pool_run(pool, j.ntasks, im2col_band_task, &j);
            }
        }
    return CV_STATUS_OK;
}

/* 1x1 kernel, stride 1, no padding: X_g is already the im2col matrix. */
static void conv_pointwise_f32(const cv_op_args_t *args, const conv_geom_t *g, const float *x,
                               const float *w, const float *b, const float *res, float *y,
                               const clamp_t *c)
{
    int64_t plane = g->in[0] * g->in[1] * g->in[2];
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t gi = 0; gi < g->group; gi++) {
            conv_gemm_t j = {.w = w + gi * g->mg * g->cg,
                             .x = x + (n * g->c + gi * g->cg) * plane,
                             .bias = b ? b + gi * g->mg : NULL,
                             .res = res ? res + (n * g->m + gi * g->mg) * plane : NULL,
                             .y = y + (n * g->m + gi * g->mg) * plane,
                             .c = c,
                             .m = g->mg,
                             .n = plane,
                             .k = g->cg,
                             .ldx = plane,
                             .ldy = plane};
            conv_gemm_run(args, &j);
        }
}

/* ---- FP64: direct loop --------------------------------------------------- */

static void conv_naive_f64(const conv_geom_t *g, const double *x, const double *w, const double *b,
                           const double *res, double *y, const clamp_t *c)
{
    int64_t in_plane = g->in[0] * g->in[1] * g->in[2];
    int64_t kvol = g->k[0] * g->k[1] * g->k[2];
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t m = 0; m < g->m; m++) {
            int64_t gi = m / g->mg;
            const double *wm = w + m * g->cg * kvol;
            for (int64_t od = 0; od < g->out[0]; od++)
                for (int64_t oh = 0; oh < g->out[1]; oh++)
                    for (int64_t ow = 0; ow < g->out[2]; ow++) {
                        double acc = b ? b[m] : 0.0;
                        for (int64_t ci = 0; ci < g->cg; ci++) {
                            const double *xc = x + (n * g->c + gi * g->cg + ci) * in_plane;
                            for (int64_t kd = 0; kd < g->k[0]; kd++) {
                                int64_t id = od * g->s[0] + kd * g->d[0] - g->p[0];
                                if (id < 0 || id >= g->in[0]) continue;
                                for (int64_t kh = 0; kh < g->k[1]; kh++) {
                                    int64_t ih = oh * g->s[1] + kh * g->d[1] - g->p[1];
                                    if (ih < 0 || ih >= g->in[1]) continue;
                                    for (int64_t kw = 0; kw < g->k[2]; kw++) {
                                        int64_t iw = ow * g->s[2] + kw * g->d[2] - g->p[2];
                                        if (iw < 0 || iw >= g->in[2]) continue;
                                        acc +=
                                            xc[(id * g->in[1] + ih) * g->in[2] + iw] *
                                            wm[((ci * g->k[0] + kd) * g->k[1] + kh) * g->k[2] + kw];
                                    }
                                }
                            }
                        }
                        if (res) acc += *res++;
                        if (c->active) {
                            if (acc < c->lo) acc = c->lo;
                            if (acc > c->hi) acc = c->hi;
                        }
                        *y++ = acc;
                    }
        }
}

/* ---- entry --------------------------------------------------------------- */

cv_status cv_cpu_conv(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *x = args->inputs[0], *w = args->inputs[1];
    const cv_tensor_t *b = args->ninputs > 2 ? args->inputs[2] : NULL;
    /* inputs[3]: the residual Add fused in at load (cv_plan_fuse_residuals);
     * shape inference checked it has y's shape. */
    const cv_tensor_t *r = args->node->fused_residual && args->ninputs > 3 ? args->inputs[3] : NULL;
    cv_tensor_t *y = args->outputs[0];
    conv_geom_t g;
    conv_geometry(args->node, x, w, y, &g);
    clamp_t c = cv_activation_clamp(args->node);
    if (cv_shape_numel(&y->shape) == 0) return CV_STATUS_OK;

    if (x->dtype == CV_DTYPE_FP64) {
        conv_naive_f64(&g, x->data, w->data, b ? b->data : NULL, r ? r->data : NULL, y->data, &c);
        return CV_STATUS_OK;
    }
    if (x->dtype != CV_DTYPE_FP32)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "Conv on %s is not supported",
                         cv_dtype_name(x->dtype));
    const float *xf = x->data, *wf = w->data, *bf = b ? b->data : NULL, *rf = r ? r->data : NULL;
    float *yf = y->data;
    bool pointwise = true;
    for (int i = 0; i < 3; i++)
        pointwise = pointwise && g.k[i] == 1 && g.s[i] == 1 && g.p[i] == 0 && g.out[i] == g.in[i];
    if (pointwise) {
        conv_pointwise_f32(args, &g, xf, wf, bf, rf, yf, &c);
        return CV_STATUS_OK;
    }
    bool depthwise = g.group == g.c && g.m == g.c && g.in[0] == 1 && g.k[0] == 1 && g.out[0] == 1;
    if (depthwise && rf) {
        /* The residual goes after the bias, before the activation. */
        clamp_t none = {false, -INFINITY, INFINITY};
        cv_status st = conv_depthwise_f32(args, &g, xf, wf, bf, yf, &none, err);
        if (st == CV_STATUS_OK) residual_clamp_f32(yf, rf, cv_shape_numel(&y->shape), &c);
        return st;
    }
    if (depthwise) return conv_depthwise_f32(args, &g, xf, wf, bf, yf, &c, err);
    return conv_im2col_f32(args, &g, xf, wf, bf, rf, yf, &c, err);
}
