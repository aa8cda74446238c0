/*
 * cpu_conv.c: the CPU kernel of Conv (ONNX Conv, 1 to 3 spatial dims,
 * groups, strides, dilations, pads or auto_pad, optional bias, and the
 * activation the IR folded into the node).
 *
 * Shape legend: X [N, C, D, H, W], W [M, C/G, KD, KH, KW], Y [N, M, OD, OH,
 * OW]; 1-D and 2-D convolutions are 3-D ones with leading extents of 1.
 *
 * FP32 is where inference time goes, so it has three paths:
 *   pointwise  1x1 kernel, stride 1, no padding: Y_g = W_g * X_g is one
 *              cblas_sgemm straight on the input, no copy;
 *   depthwise  G == C == M, 2-D: a direct loop over a zero-padded copy of
 *              each input plane (so that no tap needs a bounds check),
 *              specialised for 3x3 at stride 1 and 2, with AVX2+FMA when the
 *              CPU has them;
 *   general    im2col of a band of output rows into scratch, then
 *              cblas_sgemm per group per batch row.
 * The GEMM paths accumulate onto Y pre-filled with the bias, and apply the
 * activation in one pass over each output block while it is in cache; the
 * depthwise loop applies both as it writes. FP64 takes a naive direct loop: it is for
 * constant folding and exactness, not speed.
 *
 * AVX2+FMA versions are chosen at run time (the build targets x86-64-v2);
 * defining CARAVEL_NO_SIMD at build time keeps only the portable loops, so
 * that they can be tested on any machine.
 */
#include "backend/cpu/cpu.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CARAVEL_NO_SIMD)
#include <immintrin.h>
#define CONV_X86 1
#endif

/* The im2col band is cut so that it holds at most this many floats. */
#define CONV_COL_BUDGET (1 << 20)

/* ---- geometry ------------------------------------------------------------ */

typedef struct conv_geom {
    int64_t n, c, m, group, cg, mg;
    int64_t in[3];                  /* D, H, W of X; 1 where the conv has fewer dims */
    int64_t out[3];                 /* OD, OH, OW */
    int64_t k[3], s[3], d[3], p[3]; /* kernel, stride, dilation, begin pad */
} conv_geom_t;

/* Reads the geometry from shapes (validated by cv_infer_conv) and
 * attributes. With SAME_* the begin pads follow from the output size. */
static void conv_geometry(const cv_node_t *node, const cv_tensor_t *x, const cv_tensor_t *w,
                          const cv_tensor_t *y, conv_geom_t *g)
{
    int nd = x->shape.ndim - 2, off = 3 - nd;
    CV_ASSERT(nd >= 1 && nd <= 3 && w->shape.ndim == x->shape.ndim);
    g->n = x->shape.dims[0];
    g->c = x->shape.dims[1];
    g->m = w->shape.dims[0];
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
        g->in[j] = x->shape.dims[2 + i];
        g->out[j] = y->shape.dims[2 + i];
        g->k[j] = w->shape.dims[2 + i];
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

/* ---- bias and activation ------------------------------------------------- */

/* The fused activation as a clamp to [lo, hi] (+-inf when open). */
typedef struct clamp {
    bool active;
    float lo, hi;
} clamp_t;

static clamp_t node_clamp(const cv_node_t *node)
{
    clamp_t c = {false, -INFINITY, INFINITY};
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

/* Written so that NaN passes through, as it does through Relu and Clip. */
static inline float clamp_f32(float v, const clamp_t *c)
{
    if (v < c->lo) v = c->lo;
    if (v > c->hi) v = c->hi;
    return v;
}

#ifdef CONV_X86
static bool have_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

__attribute__((target("avx2,fma"))) static void fill_avx2(float *y, int64_t n, float v)
{
    __m256 vv = _mm256_set1_ps(v);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, vv);
    for (; i < n; i++) y[i] = v;
}

__attribute__((target("avx2,fma"))) static void clamp_avx2(float *y, int64_t n, const clamp_t *c)
{
    __m256 lo = _mm256_set1_ps(c->lo), hi = _mm256_set1_ps(c->hi);
    int64_t i = 0;
    /* max/min return their second operand when either is NaN. */
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_loadu_ps(y + i))));
    for (; i < n; i++) y[i] = clamp_f32(y[i], c);
}
#endif

/* Sets `rows` channel blocks of `n` floats, `ld` apart, to their bias: the
 * GEMM then accumulates onto it (beta = 1), which saves the pass that
 * OpenBLAS makes to clear C when beta = 0. */
static void fill_bias_f32(float *y, int64_t rows, int64_t n, int64_t ld, const float *bias)
{
    for (int64_t r = 0; r < rows; r++) {
#ifdef CONV_X86
        if (have_avx2()) {
            fill_avx2(y + r * ld, n, bias[r]);
            continue;
        }
#endif
        for (int64_t i = 0; i < n; i++) y[r * ld + i] = bias[r];
    }
}

/* The fused activation over `rows` channel blocks of `n` floats, `ld`
 * apart, while the GEMM's output block is still in cache. */
static void clamp_rows_f32(float *y, int64_t rows, int64_t n, int64_t ld, const clamp_t *c)
{
    if (!c->active) return;
    for (int64_t r = 0; r < rows; r++) {
#ifdef CONV_X86
        if (have_avx2()) {
            clamp_avx2(y + r * ld, n, c);
            continue;
        }
#endif
        for (int64_t i = 0; i < n; i++) y[r * ld + i] = clamp_f32(y[r * ld + i], c);
    }
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

static cv_status conv_depthwise_f32(const cv_op_args_t *args, const conv_geom_t *g, const float *x,
                                    const float *w, const float *b, float *y, const clamp_t *c,
                                    cv_err_t *err)
{
    padded_plane_t pp;
    padded_plane_size(g, &pp.rows, &pp.cols);
    pp.top = g->p[1];
    pp.left = g->p[2];
    size_t bytes = sizeof(float) * (size_t)(pp.rows * pp.cols);
    pp.buf = cv_cpu_scratch(args->cpu, bytes);
    if (!pp.buf) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for Conv scratch");
    memset(pp.buf, 0, bytes);
    bool k3 = g->k[1] == 3 && g->k[2] == 3 && g->d[1] == 1 && g->d[2] == 1 && g->s[1] == g->s[2] &&
              (g->s[1] == 1 || g->s[1] == 2);
    bool avx2 = false;
#ifdef CONV_X86
    avx2 = have_avx2();
#endif
    int64_t in_plane = g->in[1] * g->in[2], out_plane = g->out[1] * g->out[2];
    int64_t kk = g->k[1] * g->k[2];
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t ch = 0; ch < g->c; ch++) {
            int64_t i = n * g->c + ch;
            const float *xp = x + i * in_plane, *wk = w + ch * kk;
            float *yp = y + i * out_plane, bias = b ? b[ch] : 0.0f;
#ifdef CONV_X86
            if (avx2 && k3) {
                padded_plane_fill_avx2(&pp, xp, g->in[1], g->in[2]);
                /* Planes are written in order, so a plane may spill into
                 * those after it. */
                int64_t room = (g->n * g->c - i) * out_plane;
                dw3x3_plane_avx2(yp, &pp, wk, g, bias, c, room);
                continue;
            }
#endif
            padded_plane_fill(&pp, xp, g->in[1], g->in[2]);
            if (k3)
                dw3x3_plane_scalar(yp, &pp, wk, g, bias, c);
            else
                dw_plane_generic(yp, &pp, wk, g, bias, c);
        }
    (void)avx2;
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

/* Columns [row0*OW, (row0+nrows)*OW) of the im2col matrix of one group's
 * Cg channels (x points at the group's first channel). Rows of the matrix
 * run over (c, kd, kh, kw); an output "row" is one (od, oh) pair. */
static void im2col_f32(const float *x, const conv_geom_t *g, int64_t row0, int64_t nrows,
                       float *col)
{
    int64_t id_n = g->in[0], ih_n = g->in[1], iw_n = g->in[2];
    int64_t oh_n = g->out[1], ow_n = g->out[2];
    int64_t ncols = nrows * ow_n;
    float *dst = col;
    bool avx2 = false;
#ifdef CONV_X86
    avx2 = have_avx2();
#endif
    (void)avx2;
    for (int64_t c = 0; c < g->cg; c++) {
        const float *xc = x + c * id_n * ih_n * iw_n;
        for (int64_t kd = 0; kd < g->k[0]; kd++)
            for (int64_t kh = 0; kh < g->k[1]; kh++)
                for (int64_t kw = 0; kw < g->k[2]; kw++, dst += ncols) {
                    /* Output columns whose tap lands inside the row. */
                    int64_t shift = kw * g->d[2] - g->p[2], sw = g->s[2];
                    int64_t lo = shift >= 0 ? 0 : (-shift + sw - 1) / sw;
                    int64_t hi = iw_n - shift <= 0 ? 0 : (iw_n - shift + sw - 1) / sw;
                    if (hi > ow_n) hi = ow_n;
                    if (lo > hi) lo = hi;
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

static cv_status conv_im2col_f32(const cv_op_args_t *args, const conv_geom_t *g, const float *x,
                                 const float *w, const float *b, float *y, const clamp_t *c,
                                 cv_err_t *err)
{
    int64_t kdim = g->cg * g->k[0] * g->k[1] * g->k[2];
    int64_t rows = g->out[0] * g->out[1], ow = g->out[2], out_plane = rows * ow;
    int64_t in_plane = g->in[0] * g->in[1] * g->in[2];
    int64_t band = CONV_COL_BUDGET / (kdim * ow);
    if (band < 1) band = 1;
    if (band > rows) band = rows;
    float *col = cv_cpu_scratch(args->cpu, sizeof(float) * (size_t)(kdim * band * ow));
    if (!col) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for Conv scratch");
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t gi = 0; gi < g->group; gi++) {
            const float *xg = x + (n * g->c + gi * g->cg) * in_plane;
            const float *wg = w + gi * g->mg * kdim;
            float *yg = y + (n * g->m + gi * g->mg) * out_plane;
            const float *bg = b ? b + gi * g->mg : NULL;
            for (int64_t r0 = 0; r0 < rows; r0 += band) {
                int64_t nr = CV_MIN(band, rows - r0), ncols = nr * ow;
                im2col_f32(xg, g, r0, nr, col);
                if (bg) fill_bias_f32(yg + r0 * ow, g->mg, ncols, out_plane, bg);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->mg, (int)ncols,
                            (int)kdim, 1.0f, wg, (int)kdim, col, (int)ncols, bg ? 1.0f : 0.0f,
                            yg + r0 * ow, (int)out_plane);
                clamp_rows_f32(yg + r0 * ow, g->mg, ncols, out_plane, c);
            }
        }
    return CV_STATUS_OK;
}

/* 1x1 kernel, stride 1, no padding: X_g is already the im2col matrix. */
static void conv_pointwise_f32(const conv_geom_t *g, const float *x, const float *w, const float *b,
                               float *y, const clamp_t *c)
{
    int64_t plane = g->in[0] * g->in[1] * g->in[2];
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t gi = 0; gi < g->group; gi++) {
            const float *xg = x + (n * g->c + gi * g->cg) * plane;
            float *yg = y + (n * g->m + gi * g->mg) * plane;
            const float *wg = w + gi * g->mg * g->cg, *bg = b ? b + gi * g->mg : NULL;
            /* The GEMM accumulates onto the bias; without one, y starts at
             * zero (cleared here too for gemv, which may scale y by beta = 0
             * rather than overwrite it). */
            if (bg)
                fill_bias_f32(yg, g->mg, plane, plane, bg);
            else if (plane == 1)
                memset(yg, 0, sizeof(float) * (size_t)g->mg);
            /* A 1x1 plane (squeeze-excite blocks) is a matrix-vector product,
             * which gemv does several times faster than gemm. */
            if (plane == 1)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)g->mg, (int)g->cg, 1.0f, wg,
                            (int)g->cg, xg, 1, 1.0f, yg, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->mg, (int)plane,
                            (int)g->cg, 1.0f, wg, (int)g->cg, xg, (int)plane, bg ? 1.0f : 0.0f, yg,
                            (int)plane);
            clamp_rows_f32(yg, g->mg, plane, plane, c);
        }
}

/* ---- FP64: direct loop --------------------------------------------------- */

static void conv_naive_f64(const conv_geom_t *g, const double *x, const double *w, const double *b,
                           double *y, const clamp_t *c)
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
    cv_tensor_t *y = args->outputs[0];
    conv_geom_t g;
    conv_geometry(args->node, x, w, y, &g);
    clamp_t c = node_clamp(args->node);
    if (cv_shape_numel(&y->shape) == 0) return CV_STATUS_OK;

    if (x->dtype == CV_DTYPE_FP64) {
        conv_naive_f64(&g, x->data, w->data, b ? b->data : NULL, y->data, &c);
        return CV_STATUS_OK;
    }
    if (x->dtype != CV_DTYPE_FP32)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "Conv on %s is not supported",
                         cv_dtype_name(x->dtype));
    const float *xf = x->data, *wf = w->data, *bf = b ? b->data : NULL;
    float *yf = y->data;
    bool pointwise = true;
    for (int i = 0; i < 3; i++)
        pointwise = pointwise && g.k[i] == 1 && g.s[i] == 1 && g.p[i] == 0 && g.out[i] == g.in[i];
    if (pointwise) {
        conv_pointwise_f32(&g, xf, wf, bf, yf, &c);
        return CV_STATUS_OK;
    }
    bool depthwise = g.group == g.c && g.m == g.c && g.in[0] == 1 && g.k[0] == 1 && g.out[0] == 1;
    if (depthwise) return conv_depthwise_f32(args, &g, xf, wf, bf, yf, &c, err);
    return conv_im2col_f32(args, &g, xf, wf, bf, yf, &c, err);
}
