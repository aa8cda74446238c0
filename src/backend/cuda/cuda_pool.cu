/*
 * cuda_pool.cu: CUDA kernels of MaxPool (without its Indices output),
 * AveragePool (count_include_pad, ceil_mode, dilations, auto_pad) and
 * GlobalAveragePool / GlobalMaxPool, with the semantics of the CPU kernels
 * in src/backend/cpu/cpu_nn.c.
 *
 * X is [N*C planes, D, H, W]: 1-D and 2-D pools are 3-D ones with leading
 * extents of 1, as on the CPU. Windowed pools run one thread per output
 * element and visit the window directly (the CPU's pool_direct); an average
 * is the window's sum divided by its count. A window or plane with nothing
 * in it reads -inf (max) or 0 (average), as on the CPU; MaxPool propagates
 * NaN. Global pools give each plane a warp, or a block when planes are
 * large, and sum in double.
 *
 * FP32, except MaxPool, which reads and writes the activations an FP16/BF16
 * wave keeps in half where asked (cv_plan_value_t.half_by_pool,
 * cv_cuda_t.half_pools: a ResNet's stem conv then writes its output in
 * half for the MaxPool after it, which writes half for the convs after
 * it). Pools read no weights, so they never need slice tables.
 */
#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/window.h"

#include <math.h>

/* ---- geometry (the CPU's pool_geometry) ------------------------------------ */

typedef cv_pool_geometry_t pool_geom_t;

static cv_status pool_geometry(const cv_step_run_t *run, const cv_tensor_t *x,
                               const cv_tensor_t *y, pool_geom_t *g, cv_err_t *err)
{
    return cv_pool_geometry(run->node, &x->shape, &y->shape, g, err);
}

/* For output index o along dim i: the first input coordinate of its
 * window, the taps [klo, khi) inside the input, and the taps inside input
 * plus padding (the count_include_pad divisor: ceil_mode windows may run
 * past the end padding, and those taps count for nothing). */
template <typename I> struct pool_span_t {
    I start, klo, khi, padded_count;
};

/* I: the index type, 32-bit where every index of the step fits
 * (pool_entry): 64-bit divisions cost tens of instructions each, and a
 * ResNet-50 FP16 wave's MaxPool in 64 bits took 0.35 ms (`run.sh trace`). */
template <typename I> __device__ __forceinline__ pool_span_t<I> pool_span(const pool_geom_t &g, int i, I o)
{
    pool_span_t<I> sp;
    I d = (I)g.d[i], k = (I)g.k[i], in = (I)g.in[i];
    sp.start = o * (I)g.s[i] - (I)g.pb[i];
    sp.klo = sp.start >= 0 ? 0 : (-sp.start + d - 1) / d;
    I room = in - sp.start;
    sp.khi = room <= 0 ? 0 : min(k, (room + d - 1) / d);
    if (sp.klo > sp.khi) sp.klo = sp.khi;
    I proom = in + (I)g.pe[i] - sp.start;
    sp.padded_count = proom <= 0 ? 0 : min(k, (proom + d - 1) / d);
    return sp;
}

/* ---- MaxPool, AveragePool --------------------------------------------------- */

template <bool IS_MAX, typename I, typename TX, typename TY>
__global__ void pool_kernel(const TX *__restrict__ x, TY *__restrict__ y,
                            const __grid_constant__ pool_geom_t g, I total, bool include_pad)
{
    const I in_plane = (I)(g.in[0] * g.in[1] * g.in[2]), in_h = (I)g.in[1], in_w = (I)g.in[2];
    const I out_d = (I)g.out[0], out_h = (I)g.out[1], out_w = (I)g.out[2];
    const I dd = (I)g.d[0], dh = (I)g.d[1], dw = (I)g.d[2];
    CV_CUDA_GRID_LOOP(I, i, 0, total)
    {
        I t = i;
        const I ow = t % out_w;
        t /= out_w;
        const I oh = t % out_h;
        t /= out_h;
        const I od = t % out_d;
        const I p = t / out_d;
        const TX *xp = x + (int64_t)p * in_plane;
        const pool_span_t<I> a = pool_span(g, 0, od), b = pool_span(g, 1, oh), c = pool_span(g, 2, ow);
        float acc = IS_MAX ? -INFINITY : 0.0f;
        for (I kd = a.klo; kd < a.khi; kd++) {
            const I id = a.start + kd * dd;
            for (I kh = b.klo; kh < b.khi; kh++) {
                const TX *row = xp + (id * in_h + b.start + kh * dh) * in_w + c.start;
                for (I kw = c.klo; kw < c.khi; kw++) {
                    const float v = to_float(row[kw * dw]);
                    if (IS_MAX) acc = v > acc || v != v ? v : acc;
                    else acc += v;
                }
            }
        }
        if (!IS_MAX) {
            const I count = include_pad ? a.padded_count * b.padded_count * c.padded_count
                                        : (a.khi - a.klo) * (b.khi - b.klo) * (c.khi - c.klo);
            acc = count > 0 ? acc / (float)count : 0.0f;
        }
        y[i] = from_float<TY>(acc);
    }
}

/* pool_kernel for 2-D windows without dilation (every windowed pool of
 * ResNet-50 and the torchvision zoo), on a grid of x over an output
 * plane's pixels and y over planes (looping past 65535): a thread finds
 * its pixel with one 32-bit division and its window's bounds with none,
 * where pool_kernel divides six times an element to find its place and
 * pool_span again by the dilation. In the twelfth session's trace
 * ResNet-50's stem MaxPool took 0.23 ms of a 6.2 ms FP16 wave, about five
 * times the time of its bytes: its index arithmetic, not memory, set the
 * pace. The taps are visited in pool_kernel's order with its arithmetic,
 * so the results are the same bits. The plane fits 32-bit indices
 * (pool2d_fits). */
template <bool IS_MAX, typename TX, typename TY>
__global__ void pool2d_kernel(const TX *__restrict__ x, TY *__restrict__ y, const __grid_constant__ pool_geom_t g,
                              int64_t planes, bool include_pad)
{
    const int in_h = (int)g.in[1], in_w = (int)g.in[2], out_h = (int)g.out[1], out_w = (int)g.out[2];
    const int kh_n = (int)g.k[1], kw_n = (int)g.k[2], sh = (int)g.s[1], sw = (int)g.s[2];
    const int out_plane = out_h * out_w;
    for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
        const TX *__restrict__ xp = x + p * ((int64_t)in_h * in_w);
        TY *__restrict__ yp = y + p * (int64_t)out_plane;
        for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < out_plane; i += gridDim.x * blockDim.x) {
            const int oh = i / out_w, ow = i - oh * out_w;
            /* pool_span with a dilation of 1: the taps [lo, hi) inside the
             * input, and those inside it plus its padding */
            const int h0 = oh * sh - (int)g.pb[1], w0 = ow * sw - (int)g.pb[2];
            const int hhi = max(0, min(kh_n, in_h - h0)), whi = max(0, min(kw_n, in_w - w0));
            const int hlo = min(max(0, -h0), hhi), wlo = min(max(0, -w0), whi);
            float acc = IS_MAX ? -INFINITY : 0.0f;
            for (int kh = hlo; kh < hhi; kh++) {
                const TX *row = xp + (h0 + kh) * in_w + w0;
                for (int kw = wlo; kw < whi; kw++) {
                    const float v = to_float(row[kw]);
                    if (IS_MAX) acc = v > acc || v != v ? v : acc;
                    else acc += v;
                }
            }
            if (!IS_MAX) {
                const int ph = max(0, min(kh_n, in_h + (int)g.pe[1] - h0));
                const int pw = max(0, min(kw_n, in_w + (int)g.pe[2] - w0));
                const int count = include_pad ? ph * pw : (hhi - hlo) * (whi - wlo);
                acc = count > 0 ? acc / (float)count : 0.0f;
            }
            yp[i] = from_float<TY>(acc);
        }
    }
}

/* Whether pool2d_kernel takes g: a 2-D window (the leading extent 1, no
 * padding along it), no dilation, and every index of a plane, its window
 * and its padding within 32 bits. */
static bool pool2d_fits(const pool_geom_t &g)
{
    bool fits = g.in[0] == 1 && g.out[0] == 1 && g.k[0] == 1 && g.pb[0] == 0 && g.pe[0] == 0 && g.d[1] == 1 &&
                g.d[2] == 1;
    for (int i = 1; i < 3; i++)
        fits = fits && g.in[i] + g.pb[i] + g.pe[i] + g.k[i] + g.out[i] * g.s[i] < (1 << 20);
    return fits && g.in[1] * g.in[2] < (1 << 30) && g.out[1] * g.out[2] < (1 << 30);
}

template <bool IS_MAX>
static cv_status pool_entry(cv_cuda_t *cuda, const cv_step_run_t *run, cv_cuda_op_fn self,
                            cv_err_t *err)
{
    CV_CUDA_ENTER_F32(cuda, run, self, err);
    const cv_tensor_t *x = run->inputs[0];
    cv_tensor_t *y = run->outputs[0];
    if (IS_MAX && cv_cuda_out(run, 1))
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "MaxPool with the Indices output is not supported on CUDA");
    pool_geom_t g;
    cv_status st = pool_geometry(run, x, y, &g, err);
    if (st != CV_STATUS_OK) return st;
    int64_t total = cv_shape_numel(&y->shape);
    if (total == 0) return CV_STATUS_OK;
    bool include_pad = cv_node_attr_int(run->node, "count_include_pad", 0) == 1;
    /* 32-bit indices when the output, the input plane (with its padding
     * on both sides) and every window product stay below 2^31 */
    bool narrow = total < (1 << 30); /* the grid loop's last step stays below 2^31 too */
    for (int i = 0; i < 3; i++)
        narrow = narrow && g.in[i] + g.pb[i] + g.pe[i] + g.k[i] * g.d[i] + g.out[i] * g.s[i] < (1 << 20);
    narrow = narrow && g.in[0] * g.in[1] * g.in[2] < (1 << 30) && g.k[0] * g.k[1] * g.k[2] < (1 << 30);
    bool two_d = cuda->pool2d && pool2d_fits(g);
    auto launch = [&](auto tx, auto ty) {
        using TX = decltype(tx);
        using TY = decltype(ty);
        if (two_d) {
            /* Small planes (7x7) take one or two warps a block, not eight. */
            int64_t out_plane = g.out[1] * g.out[2];
            int threads = out_plane >= CV_CUDA_THREADS ? CV_CUDA_THREADS : (int)((out_plane + 31) / 32 * 32);
            dim3 grid((unsigned)CV_MIN((out_plane + threads - 1) / threads, 65535),
                      (unsigned)CV_MAX(1, CV_MIN(g.planes, 65535)));
            pool2d_kernel<IS_MAX, TX, TY><<<grid, threads, 0, cuda->stream>>>((const TX *)x->data, (TY *)y->data, g,
                                                                               g.planes, include_pad);
        } else if (narrow)
            pool_kernel<IS_MAX, int, TX, TY><<<cv_cuda_blocks(total), CV_CUDA_THREADS, 0, cuda->stream>>>(
                (const TX *)x->data, (TY *)y->data, g, (int)total, include_pad);
        else
            pool_kernel<IS_MAX, int64_t, TX, TY><<<cv_cuda_blocks(total), CV_CUDA_THREADS, 0, cuda->stream>>>(
                (const TX *)x->data, (TY *)y->data, g, total, include_pad);
    };
    /* The plan keeps only MaxPool's activations in half (mark_half_values). */
    if constexpr (IS_MAX) {
        act_t xa = act_of(cuda, run, run->node->inputs[0]), ya = act_of(cuda, run, run->node->outputs[0]);
        with_act(xa, [&](auto tx) { with_act(ya, [&](auto ty) { launch(tx, ty); }); });
    } else {
        launch(0.0f, 0.0f);
    }
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_max_pool(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return pool_entry<true>(cuda, run, cv_cuda_max_pool, err);
}

extern "C" cv_status cv_cuda_average_pool(cv_cuda_t *cuda, const cv_step_run_t *run,
                                          cv_err_t *err)
{
    return pool_entry<false>(cuda, run, cv_cuda_average_pool, err);
}

/* ---- GlobalAveragePool, GlobalMaxPool ---------------------------------------- */

/* Planes are handled by groups of G threads (a warp, or the whole block);
 * a group's loop bound is the same for all its threads, as the reduction
 * needs. An empty plane gives -inf (max) or 0 (average), as the CPU. */
template <int G, bool IS_MAX>
__global__ void global_pool_kernel(const float *__restrict__ x, float *__restrict__ y,
                                   int64_t planes, int64_t plane)
{
    const int per_block = blockDim.x / G;
    const int lane = threadIdx.x % G;
    for (int64_t p = (int64_t)blockIdx.x * per_block + threadIdx.x / G; p < planes;
         p += (int64_t)gridDim.x * per_block) {
        const float *xp = x + p * plane;
        if (IS_MAX) {
            float m = -INFINITY;
            for (int64_t j = lane; j < plane; j += G) m = xp[j] > m ? xp[j] : m;
            m = cv_group_reduce<G, true>(m);
            if (lane == 0) y[p] = m;
        } else {
            double sum = 0.0;
            for (int64_t j = lane; j < plane; j += G) sum += xp[j];
            sum = cv_group_reduce<G, false>(sum);
            if (lane == 0) y[p] = plane > 0 ? (float)(sum / (double)plane) : 0.0f;
        }
    }
}

template <bool IS_MAX>
static cv_status global_pool_entry(cv_cuda_t *cuda, const cv_step_run_t *run,
                                   cv_cuda_op_fn self, cv_err_t *err)
{
    CV_CUDA_ENTER_F32(cuda, run, self, err);
    const cv_tensor_t *x = run->inputs[0];
    CV_ASSERT(x->shape.ndim >= 2);
    int64_t planes = x->shape.dims[0] * x->shape.dims[1];
    int64_t plane = 1;
    for (int i = 2; i < x->shape.ndim; i++) plane *= x->shape.dims[i];
    if (planes == 0) return CV_STATUS_OK;
    const float *xs = (const float *)x->data;
    float *ys = (float *)run->outputs[0]->data;
    if (plane >= 1024) {
        global_pool_kernel<CV_CUDA_THREADS, IS_MAX>
            <<<cv_cuda_blocks(planes, 1), CV_CUDA_THREADS, 0, cuda->stream>>>(xs, ys, planes,
                                                                              plane);
    } else {
        const int per_block = CV_CUDA_THREADS / 32;
        global_pool_kernel<32, IS_MAX>
            <<<cv_cuda_blocks(planes, per_block), CV_CUDA_THREADS, 0, cuda->stream>>>(
                xs, ys, planes, plane);
    }
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_global_average_pool(cv_cuda_t *cuda, const cv_step_run_t *run,
                                                 cv_err_t *err)
{
    return global_pool_entry<false>(cuda, run, cv_cuda_global_average_pool, err);
}

extern "C" cv_status cv_cuda_global_max_pool(cv_cuda_t *cuda, const cv_step_run_t *run,
                                             cv_err_t *err)
{
    return global_pool_entry<true>(cuda, run, cv_cuda_global_max_pool, err);
}
