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
 * FP32 only. Pools read no weights, so they never need slice tables.
 */
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
typedef struct pool_span {
    int64_t start, klo, khi, padded_count;
} pool_span_t;

__device__ __forceinline__ pool_span_t pool_span(const pool_geom_t &g, int i, int64_t o)
{
    pool_span_t sp;
    int64_t d = g.d[i], k = g.k[i];
    sp.start = o * g.s[i] - g.pb[i];
    sp.klo = sp.start >= 0 ? 0 : (-sp.start + d - 1) / d;
    int64_t room = g.in[i] - sp.start;
    sp.khi = room <= 0 ? 0 : min(k, (room + d - 1) / d);
    if (sp.klo > sp.khi) sp.klo = sp.khi;
    int64_t proom = g.in[i] + g.pe[i] - sp.start;
    sp.padded_count = proom <= 0 ? 0 : min(k, (proom + d - 1) / d);
    return sp;
}

/* ---- MaxPool, AveragePool --------------------------------------------------- */

template <bool IS_MAX>
__global__ void pool_kernel(const float *__restrict__ x, float *__restrict__ y,
                            const __grid_constant__ pool_geom_t g, int64_t total,
                            bool include_pad)
{
    const int64_t in_plane = g.in[0] * g.in[1] * g.in[2];
    CV_CUDA_GRID_LOOP(int64_t, i, 0, total)
    {
        int64_t t = i;
        const int64_t ow = t % g.out[2];
        t /= g.out[2];
        const int64_t oh = t % g.out[1];
        t /= g.out[1];
        const int64_t od = t % g.out[0];
        const int64_t p = t / g.out[0];
        const float *xp = x + p * in_plane;
        const pool_span_t a = pool_span(g, 0, od), b = pool_span(g, 1, oh), c = pool_span(g, 2, ow);
        float acc = IS_MAX ? -INFINITY : 0.0f;
        for (int64_t kd = a.klo; kd < a.khi; kd++) {
            const int64_t id = a.start + kd * g.d[0];
            for (int64_t kh = b.klo; kh < b.khi; kh++) {
                const float *row = xp + (id * g.in[1] + b.start + kh * g.d[1]) * g.in[2] + c.start;
                for (int64_t kw = c.klo; kw < c.khi; kw++) {
                    const float v = row[kw * g.d[2]];
                    if (IS_MAX) acc = v > acc || v != v ? v : acc;
                    else acc += v;
                }
            }
        }
        if (!IS_MAX) {
            const int64_t count = include_pad
                                      ? a.padded_count * b.padded_count * c.padded_count
                                      : (a.khi - a.klo) * (b.khi - b.klo) * (c.khi - c.klo);
            acc = count > 0 ? acc / (float)count : 0.0f;
        }
        y[i] = acc;
    }
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
    pool_kernel<IS_MAX><<<cv_cuda_blocks(total), CV_CUDA_THREADS, 0, cuda->stream>>>(
        (const float *)x->data, (float *)y->data, g, total, include_pad);
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
