/*
 * cuda_nn.cu: CUDA kernels of BatchNormalization (inference), Softmax and
 * LogSoftmax, LayerNormalization, LRN, ReduceMean and ReduceSum, with the
 * semantics of src/backend/cpu/cpu_nn.c and cpu_layout.c (the reductions).
 *
 * Shape legend: BatchNormalization and LRN see X as [N, C, plane];
 * Softmax as [outer, len, inner] (opset < 13: [outer, len] with len the
 * product of the dims from `axis`, the "coerce to 2-D" semantics; read by
 * src/backend/nn_geometry.c, as on the CPU);
 * LayerNormalization as [outer rows, inner] with inner the dims from axis.
 *
 * Row-wise reductions (Softmax, LayerNormalization, ReduceMean/Sum over
 * the innermost dims) give each row a warp, or a whole block when rows
 * are long. LayerNormalization and the reductions accumulate in double,
 * as the CPU does for LayerNormalization.
 *
 * Per-tenant parameters: BatchNormalization's scale, B, mean and variance
 * and LayerNormalization's Scale and B come from the slice table
 * (cuda_ops.cuh), so a wave of several tenants is one launch.
 *
 * FP32 only.
 */
#include "backend/cuda/cuda_ops.cuh"
#include "backend/layout_geometry.h"
#include "backend/nn_geometry.h"

#include <math.h>

/* Rows of at least this many elements get a whole block instead of a warp. */
#define LONG_ROW 1024

/* ---- BatchNormalization ------------------------------------------------------ */

/* y = x * a + b with a = scale / sqrt(var + eps), b = B - mean * a per
 * channel, as the CPU computes them. Slots: scale, B, mean, var. The
 * per-element form serves small planes ([N, C] after a Gemm); the
 * per-plane form computes a and b once per plane. */
template <int N>
__global__ void batch_norm_elems_kernel(const float *__restrict__ x, float *__restrict__ y,
                                        const __grid_constant__ cv_slice_table<N> t,
                                        int64_t inner, int64_t channels, float eps)
{
    const int s = blockIdx.y;
    const float *scale = (const float *)t.operand(s, 0), *bias = (const float *)t.operand(s, 1);
    const float *mean = (const float *)t.operand(s, 2), *var = (const float *)t.operand(s, 3);
    CV_CUDA_GRID_LOOP(int64_t, i, t.begin[s], t.end[s])
    {
        const int64_t c = (i / inner) % channels;
        const float a = scale[c] / sqrtf(var[c] + eps), b = bias[c] - mean[c] * a;
        y[i] = x[i] * a + b;
    }
}

/* Units are planes: block x takes planes begin + x, begin + x + gridDim.x... */
template <int N>
__global__ void batch_norm_planes_kernel(const float *__restrict__ x, float *__restrict__ y,
                                         const __grid_constant__ cv_slice_table<N> t,
                                         int64_t inner, int64_t channels, float eps)
{
    const int s = blockIdx.y;
    const float *scale = (const float *)t.operand(s, 0), *bias = (const float *)t.operand(s, 1);
    const float *mean = (const float *)t.operand(s, 2), *var = (const float *)t.operand(s, 3);
    for (int64_t p = t.begin[s] + blockIdx.x; p < t.end[s]; p += gridDim.x) {
        const int64_t c = p % channels;
        const float a = scale[c] / sqrtf(var[c] + eps), b = bias[c] - mean[c] * a;
        const float *src = x + p * inner;
        float *dst = y + p * inner;
        for (int64_t j = threadIdx.x; j < inner; j += blockDim.x) dst[j] = src[j] * a + b;
    }
}

extern "C" cv_status cv_cuda_batch_normalization(cv_cuda_t *cuda, const cv_step_run_t *run,
                                                 cv_err_t *err)
{
    CV_ASSERT(run->ninputs >= 5);
    const cv_tensor_t *x = run->inputs[0];
    int64_t total = cv_shape_numel(&x->shape), n = x->shape.dims[0];
    int64_t channels = cv_shape_numel(&run->inputs[3]->shape);
    int64_t inner = n == 0 || channels == 0 ? 0 : total / (n * channels);
    bool per_plane = inner >= 128;
    /* The training-mode outputs copy one tenant's statistics: the slice
     * loop keeps that case as the CPU has it. */
    bool extra_outputs = false;
    for (int k = 1; k < run->noutputs && k < 5; k++) extra_outputs |= run->outputs[k] != NULL;
    int64_t units = extra_outputs ? -1 : per_plane ? n * channels : total;
    bool done;
    cv_status st = cv_cuda_enter(cuda, run, units, cv_cuda_batch_normalization, &done, err);
    if (done) return st;
    if (x->dtype != CV_DTYPE_FP32) return cv_cuda_unsupported(run, x->dtype, err);
    for (int i = 1; i < 5; i++)
        if (run->inputs[i]->dtype != CV_DTYPE_FP32)
            return cv_cuda_unsupported(run, run->inputs[i]->dtype, err);
    float eps = cv_node_attr_float(run->node, "epsilon", 1e-5f);
    const float *xs = (const float *)x->data;
    float *ys = (float *)run->outputs[0]->data;
    if (total > 0) {
        const int values[4] = {cv_cuda_value(run, 1), cv_cuda_value(run, 2), cv_cuda_value(run, 3),
                               cv_cuda_value(run, 4)};
        const void *bases[4] = {run->inputs[1]->data, run->inputs[2]->data, run->inputs[3]->data,
                                run->inputs[4]->data};
        cudaStream_t stream = cuda->stream;
        auto launch = [&](const auto &t, int ns) -> cv_status {
            int64_t span = cv_cuda_table_span(t, ns);
            if (per_plane) {
                dim3 grid((unsigned)CV_MIN(CV_MAX(span, 1), CV_CUDA_MAX_BLOCKS), ns);
                batch_norm_planes_kernel<<<grid, CV_CUDA_THREADS, 0, stream>>>(xs, ys, t, inner,
                                                                               channels, eps);
            } else {
                dim3 grid(cv_cuda_blocks(span), ns);
                batch_norm_elems_kernel<<<grid, CV_CUDA_THREADS, 0, stream>>>(xs, ys, t, inner,
                                                                              channels, eps);
            }
            CV_CUDA_CHECK_LAUNCH(err);
            return CV_STATUS_OK;
        };
        st = cv_cuda_with_table(cuda, run, per_plane ? n * channels : total, values, bases, 4, launch, err);
        if (st != CV_STATUS_OK) return st;
    }
    /* Training-mode outputs of older models: the running statistics pass
     * through unchanged (odd outputs are means, even ones variances). */
    for (int k = 1; k < run->noutputs && k < 5; k++) {
        cv_tensor_t *o = run->outputs[k];
        if (!o) continue;
        /* A copy from a tenant's statistics takes their address as it is. */
        if (cv_cuda_value_is_weight(run, cv_cuda_value(run, k % 2 ? 3 : 4)))
            cv_cuda_graph_bind(cuda, "BatchNormalization copies a tenant's statistics");
        const void *src = run->inputs[k % 2 ? 3 : 4]->data;
        if ((st = cv_cuda_copy(cuda, o->data, src, sizeof(float) * (size_t)channels, err)) !=
            CV_STATUS_OK)
            return st;
    }
    return CV_STATUS_OK;
}

/* ---- Softmax, LogSoftmax ----------------------------------------------------------- */

/* Rows of `len` contiguous elements (inner == 1), G threads per row:
 * max, then the sum of exp(x - max), then y = e * (1 / sum) or
 * x - (max + log(sum)), as the CPU. */
template <int G, bool LOG>
__global__ void softmax_rows_kernel(const float *__restrict__ x, float *__restrict__ y,
                                    int64_t rows, int64_t len)
{
    const int per_block = blockDim.x / G, lane = threadIdx.x % G;
    for (int64_t row = (int64_t)blockIdx.x * per_block + threadIdx.x / G; row < rows;
         row += (int64_t)gridDim.x * per_block) {
        const float *xs = x + row * len;
        float *ys = y + row * len;
        float mx = -INFINITY;
        for (int64_t j = lane; j < len; j += G) mx = xs[j] > mx ? xs[j] : mx;
        mx = cv_group_reduce<G, true>(mx);
        float sum = 0.0f;
        for (int64_t j = lane; j < len; j += G) {
            const float e = expf(xs[j] - mx);
            sum += e;
            if (!LOG) ys[j] = e;
        }
        sum = cv_group_reduce<G, false>(sum);
        if (LOG) {
            const float shift = mx + logf(sum);
            for (int64_t j = lane; j < len; j += G) ys[j] = xs[j] - shift;
        } else {
            const float r = 1.0f / sum;
            for (int64_t j = lane; j < len; j += G) ys[j] *= r;
        }
    }
}

/* inner > 1: one thread per (outer, inner) line, reading `len` elements
 * `inner` apart (neighbouring threads read neighbouring elements). */
template <bool LOG>
__global__ void softmax_lines_kernel(const float *__restrict__ x, float *__restrict__ y,
                                     int64_t outer, int64_t len, int64_t inner)
{
    CV_CUDA_GRID_LOOP(int64_t, c, 0, outer * inner)
    {
        const int64_t o = c / inner, i = c - o * inner;
        const float *xs = x + o * len * inner + i;
        float *ys = y + o * len * inner + i;
        float mx = -INFINITY, sum = 0.0f;
        for (int64_t j = 0; j < len; j++) mx = xs[j * inner] > mx ? xs[j * inner] : mx;
        for (int64_t j = 0; j < len; j++) {
            const float e = expf(xs[j * inner] - mx);
            sum += e;
            if (!LOG) ys[j * inner] = e;
        }
        if (LOG) {
            const float shift = mx + logf(sum);
            for (int64_t j = 0; j < len; j++) ys[j * inner] = xs[j * inner] - shift;
        } else {
            const float r = 1.0f / sum;
            for (int64_t j = 0; j < len; j++) ys[j * inner] *= r;
        }
    }
}

template <bool LOG>
static cv_status softmax_entry(cv_cuda_t *cuda, const cv_step_run_t *run, cv_cuda_op_fn self,
                               cv_err_t *err)
{
    CV_CUDA_ENTER_F32(cuda, run, self, err);
    const cv_tensor_t *x = run->inputs[0];
    cv_softmax_geometry_t g;
    cv_status st = cv_softmax_geometry(run->node, &x->shape, &g, err);
    if (st != CV_STATUS_OK) return st;
    const int64_t outer = g.outer, len = g.len, inner = g.inner;
    if (outer * len * inner == 0) return CV_STATUS_OK;
    const float *xs = (const float *)x->data;
    float *ys = (float *)run->outputs[0]->data;
    cudaStream_t stream = cuda->stream;
    if (inner > 1) {
        softmax_lines_kernel<LOG><<<cv_cuda_blocks(outer * inner), CV_CUDA_THREADS, 0, stream>>>(
            xs, ys, outer, len, inner);
    } else if (len >= LONG_ROW) {
        softmax_rows_kernel<CV_CUDA_THREADS, LOG>
            <<<cv_cuda_blocks(outer, 1), CV_CUDA_THREADS, 0, stream>>>(xs, ys, outer, len);
    } else {
        softmax_rows_kernel<32, LOG>
            <<<cv_cuda_blocks(outer, CV_CUDA_THREADS / 32), CV_CUDA_THREADS, 0, stream>>>(
                xs, ys, outer, len);
    }
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_softmax(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return softmax_entry<false>(cuda, run, cv_cuda_softmax, err);
}

extern "C" cv_status cv_cuda_log_softmax(cv_cuda_t *cuda, const cv_step_run_t *run,
                                         cv_err_t *err)
{
    return softmax_entry<true>(cuda, run, cv_cuda_log_softmax, err);
}

/* ---- LayerNormalization ----------------------------------------------------------- */

/* Units are rows of `inner` elements; G threads per row. Mean and variance
 * in double, two passes, as the CPU; y = (x - mean) * inv * scale (+ B).
 * Slots: Scale, B (NULL when absent), mapped onto the row by ms and mb. */
template <int G, int N>
__global__ void layer_norm_kernel(const float *__restrict__ x, float *__restrict__ y,
                                  float *__restrict__ mean_out, float *__restrict__ inv_out,
                                  const __grid_constant__ cv_slice_table<N> t, int64_t inner,
                                  float eps, const cv_operand_map<int64_t> ms,
                                  const cv_operand_map<int64_t> mb)
{
    const int s = blockIdx.y;
    const float *scale = (const float *)t.operand(s, 0), *bias = (const float *)t.operand(s, 1);
    const int per_block = blockDim.x / G, lane = threadIdx.x % G;
    for (int64_t o = t.begin[s] + (int64_t)blockIdx.x * per_block + threadIdx.x / G; o < t.end[s];
         o += (int64_t)gridDim.x * per_block) {
        const float *src = x + o * inner;
        float *dst = y + o * inner;
        double sum = 0.0;
        for (int64_t j = lane; j < inner; j += G) sum += src[j];
        sum = cv_group_reduce<G, false>(sum);
        const double mean = inner > 0 ? sum / (double)inner : 0.0;
        double sq = 0.0;
        for (int64_t j = lane; j < inner; j += G) {
            const double dv = src[j] - mean;
            sq += dv * dv;
        }
        sq = cv_group_reduce<G, false>(sq);
        const double var = inner > 0 ? sq / (double)inner : 0.0;
        const float inv = (float)(1.0 / sqrt(var + (double)eps)), mf = (float)mean;
        for (int64_t j = lane; j < inner; j += G) {
            const float v = (src[j] - mf) * inv * scale[ms.at(j)];
            dst[j] = bias ? v + bias[mb.at(j)] : v;
        }
        if (lane == 0) {
            if (mean_out) mean_out[o] = mf;
            if (inv_out) inv_out[o] = inv;
        }
    }
}

extern "C" cv_status cv_cuda_layer_normalization(cv_cuda_t *cuda, const cv_step_run_t *run,
                                                 cv_err_t *err)
{
    CV_ASSERT(run->ninputs >= 2);
    const cv_tensor_t *x = run->inputs[0], *sc = run->inputs[1], *bt = cv_cuda_in(run, 2);
    cv_layer_norm_geometry_t g;
    cv_status st = cv_layer_norm_geometry(run->node, &x->shape, &g, err);
    if (st != CV_STATUS_OK) return st;
    const cv_shape_t norm = g.norm;
    const int64_t inner = g.inner, outer = g.outer;
    bool done;
    st = cv_cuda_enter(cuda, run, outer, cv_cuda_layer_normalization, &done, err);
    if (done) return st;
    if (x->dtype != CV_DTYPE_FP32) return cv_cuda_unsupported(run, x->dtype, err);
    if (sc->dtype != CV_DTYPE_FP32 || (bt && bt->dtype != CV_DTYPE_FP32))
        return cv_cuda_unsupported(run, sc->dtype != CV_DTYPE_FP32 ? sc->dtype : bt->dtype, err);
    /* Scale and B broadcast to the normalized shape: as a whole run, a
     * scalar or a per-channel run; other broadcasts go to the host. */
    cv_operand_map<int64_t> ms, mb = {CV_MAP_SCALAR, 1, 1};
    const cv_shape_t *shapes[2] = {&sc->shape, bt ? &bt->shape : &sc->shape};
    cv_broadcast_t bc;
    cv_broadcast_collapse(shapes, 2, &norm, &bc);
    if (!cv_operand_simple(&bc, 0, &ms) || (bt && !cv_operand_simple(&bc, 1, &mb)))
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "LayerNormalization on CUDA needs Scale and B to be whole, scalar or "
                         "one contiguous run of the normalized shape");
    if (outer == 0) return CV_STATUS_OK;
    cv_tensor_t *mean_out = cv_cuda_out(run, 1), *inv_out = cv_cuda_out(run, 2);
    const float *xs = (const float *)x->data;
    float *ys = (float *)run->outputs[0]->data;
    float *mo = mean_out ? (float *)mean_out->data : NULL;
    float *io = inv_out ? (float *)inv_out->data : NULL;
    float eps = cv_node_attr_float(run->node, "epsilon", 1e-5f);
    const int values[2] = {cv_cuda_value(run, 1), bt ? cv_cuda_value(run, 2) : -1};
    const void *bases[2] = {sc->data, bt ? bt->data : NULL};
    cudaStream_t stream = cuda->stream;
    auto launch = [&](const auto &t, int ns) -> cv_status {
        int64_t span = cv_cuda_table_span(t, ns);
        if (inner >= LONG_ROW) {
            dim3 grid(cv_cuda_blocks(span, 1), ns);
            layer_norm_kernel<CV_CUDA_THREADS><<<grid, CV_CUDA_THREADS, 0, stream>>>(
                xs, ys, mo, io, t, inner, eps, ms, mb);
        } else {
            dim3 grid(cv_cuda_blocks(span, CV_CUDA_THREADS / 32), ns);
            layer_norm_kernel<32><<<grid, CV_CUDA_THREADS, 0, stream>>>(xs, ys, mo, io, t, inner,
                                                                       eps, ms, mb);
        }
        CV_CUDA_CHECK_LAUNCH(err);
        return CV_STATUS_OK;
    };
    return cv_cuda_with_table(cuda, run, outer, values, bases, 2, launch, err);
}

/* ---- LRN -------------------------------------------------------------------------------- */

/* The window of channel c is [c - floor((size-1)/2), c + ceil((size-1)/2)];
 * squares are summed in the CPU's order (channels ascending). */
__global__ void lrn_kernel(const float *__restrict__ x, float *__restrict__ y, int64_t total,
                           int64_t channels, int64_t plane, int64_t before, int64_t after,
                           float scale, float bias, float beta)
{
    CV_CUDA_GRID_LOOP(int64_t, i, 0, total)
    {
        const int64_t j = i % plane, rest = i / plane;
        const int64_t c = rest % channels, n = rest / channels;
        const int64_t c0 = max((int64_t)0, c - before), c1 = min(channels - 1, c + after);
        float sq = 0.0f;
        for (int64_t cc = c0; cc <= c1; cc++) {
            const float v = x[(n * channels + cc) * plane + j];
            sq += v * v;
        }
        y[i] = x[i] * powf(bias + scale * sq, -beta);
    }
}

extern "C" cv_status cv_cuda_lrn(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    CV_CUDA_ENTER_F32(cuda, run, cv_cuda_lrn, err);
    const cv_tensor_t *x = run->inputs[0];
    CV_ASSERT(x->shape.ndim >= 2);
    int64_t size = cv_node_attr_int(run->node, "size", 1);
    float alpha = cv_node_attr_float(run->node, "alpha", 1e-4f);
    float beta = cv_node_attr_float(run->node, "beta", 0.75f);
    float bias = cv_node_attr_float(run->node, "bias", 1.0f);
    int64_t channels = x->shape.dims[1], plane = 1;
    for (int i = 2; i < x->shape.ndim; i++) plane *= x->shape.dims[i];
    int64_t total = cv_shape_numel(&x->shape);
    if (total == 0) return CV_STATUS_OK;
    int64_t before = (size - 1) / 2, after = size - 1 - before;
    lrn_kernel<<<cv_cuda_blocks(total), CV_CUDA_THREADS, 0, cuda->stream>>>(
        (const float *)x->data, (float *)run->outputs[0]->data, total, channels, plane, before,
        after, alpha / (float)size, bias, beta);
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

/* ---- ReduceMean, ReduceSum ------------------------------------------------------------ */

/* Groups of neighbouring axes alternate between kept and reduced, so each
 * kind has at most half of CV_MAX_DIMS groups. */
#define REDUCE_GROUPS (CV_MAX_DIMS / 2)

/* Kept groups (the output, row-major) and reduced groups, with their input
 * strides, outermost first. */
typedef struct reduce_geom {
    int nk, nr;
    int64_t kdims[REDUCE_GROUPS], kstr[REDUCE_GROUPS];
    int64_t rdims[REDUCE_GROUPS], rstr[REDUCE_GROUPS];
    int64_t count; /* input elements per output element */
} reduce_geom_t;

/* Input offset of output element o. */
__device__ __forceinline__ int64_t reduce_base(const reduce_geom_t &g, int64_t o)
{
    int64_t base = 0;
#pragma unroll
    for (int a = REDUCE_GROUPS - 1; a >= 0; a--) {
        if (a >= g.nk) continue;
        const int64_t q = o / g.kdims[a];
        base += (o - q * g.kdims[a]) * g.kstr[a];
        o = q;
    }
    return base;
}

/* Moves `off` to the next position of reduced groups [0, n), odometer
 * style; idx lives in registers thanks to the fixed unrolled bound. */
__device__ __forceinline__ void reduce_step(const reduce_geom_t &g, int n, int64_t *idx,
                                            int64_t *off)
{
#pragma unroll
    for (int a = REDUCE_GROUPS - 1; a >= 0; a--) {
        if (a >= n) continue;
        *off += g.rstr[a];
        if (++idx[a] < g.rdims[a]) return;
        *off -= g.rstr[a] * g.rdims[a];
        idx[a] = 0;
    }
}

__device__ __forceinline__ float reduce_finish(double acc, int64_t count, bool mean)
{
    /* The mean of nothing is NaN, as in ONNX's reference and the CPU. */
    if (!mean) return (float)acc;
    return count ? (float)acc / (float)count : NAN;
}

/* One thread per output element, walking every reduced position. */
__global__ void reduce_serial_kernel(const float *__restrict__ x, float *__restrict__ y,
                                     const __grid_constant__ reduce_geom_t g, int64_t ny,
                                     bool mean)
{
    CV_CUDA_GRID_LOOP(int64_t, o, 0, ny)
    {
        const float *xs = x + reduce_base(g, o);
        int64_t idx[REDUCE_GROUPS] = {0}, off = 0;
        double acc = 0.0;
        for (int64_t r = 0; r < g.count; r++) {
            acc += xs[off];
            reduce_step(g, g.nr, idx, &off);
        }
        y[o] = reduce_finish(acc, g.count, mean);
    }
}

/* The innermost input axes are reduced (group nr-1, stride 1): a warp per
 * output element, its lanes along that contiguous run. */
__global__ void reduce_warp_kernel(const float *__restrict__ x, float *__restrict__ y,
                                   const __grid_constant__ reduce_geom_t g, int64_t ny, bool mean)
{
    const int per_block = blockDim.x / 32, lane = threadIdx.x % 32;
    const int64_t len = g.rdims[g.nr - 1], runs = len ? g.count / len : 0;
    for (int64_t o = (int64_t)blockIdx.x * per_block + threadIdx.x / 32; o < ny;
         o += (int64_t)gridDim.x * per_block) {
        const float *xs = x + reduce_base(g, o);
        int64_t idx[REDUCE_GROUPS] = {0}, off = 0;
        double acc = 0.0;
        for (int64_t r = 0; r < runs; r++) {
            for (int64_t j = lane; j < len; j += 32) acc += xs[off + j];
            reduce_step(g, g.nr - 1, idx, &off);
        }
        acc = cv_warp_sum(acc);
        if (lane == 0) y[o] = reduce_finish(acc, g.count, mean);
    }
}

/* The CPU's reduce_plan: axes grouped into alternating kept and reduced
 * runs (extent-1 axes dropped), then split by kind. */
static void reduce_geometry(const cv_shape_t *shape, const bool *reduced, reduce_geom_t *g)
{
    int n = 0;
    int64_t dims[CV_MAX_DIMS];
    bool red[CV_MAX_DIMS];
    memset(g, 0, sizeof *g);
    g->count = 1;
    for (int a = 0; a < shape->ndim; a++) {
        int64_t d = shape->dims[a];
        if (reduced[a]) g->count *= d;
        if (d == 1) continue;
        if (n > 0 && red[n - 1] == reduced[a]) {
            dims[n - 1] *= d;
            continue;
        }
        dims[n] = d;
        red[n] = reduced[a];
        n++;
    }
    int64_t stride[CV_MAX_DIMS], s = 1;
    for (int a = n - 1; a >= 0; a--) {
        stride[a] = s;
        s *= dims[a];
    }
    for (int a = 0; a < n; a++) {
        CV_ASSERT(g->nk < REDUCE_GROUPS && g->nr < REDUCE_GROUPS);
        if (red[a]) {
            g->rdims[g->nr] = dims[a];
            g->rstr[g->nr++] = stride[a];
        } else {
            g->kdims[g->nk] = dims[a];
            g->kstr[g->nk++] = stride[a];
        }
    }
}

static cv_status reduce_entry(cv_cuda_t *cuda, const cv_step_run_t *run, bool mean,
                              cv_cuda_op_fn self, cv_err_t *err)
{
    CV_CUDA_ENTER_F32(cuda, run, self, err);
    const cv_tensor_t *x = run->inputs[0];
    cv_tensor_t *y = run->outputs[0];
    const cv_tensor_t *axes;
    bool reduced[CV_MAX_DIMS], noop;
    cv_status st;
    if ((st = cv_cuda_host_input(run, 1, "axes", &axes, err)) != CV_STATUS_OK ||
        (st = cv_reduce_axes(run->node, &x->shape, axes, reduced, &noop, err)) != CV_STATUS_OK)
        return st;
    if (noop) return cv_cuda_copy(cuda, y->data, x->data, cv_tensor_nbytes(x), err);
    reduce_geom_t g;
    reduce_geometry(&x->shape, reduced, &g);
    int64_t ny = cv_shape_numel(&y->shape);
    if (ny == 0) return CV_STATUS_OK;
    const float *xs = (const float *)x->data;
    float *ys = (float *)y->data;
    bool inner_reduced = g.nr > 0 && g.rstr[g.nr - 1] == 1;
    if (inner_reduced && g.rdims[g.nr - 1] >= 32) {
        reduce_warp_kernel<<<cv_cuda_blocks(ny, CV_CUDA_THREADS / 32), CV_CUDA_THREADS, 0,
                             cuda->stream>>>(xs, ys, g, ny, mean);
    } else {
        reduce_serial_kernel<<<cv_cuda_blocks(ny), CV_CUDA_THREADS, 0, cuda->stream>>>(xs, ys, g,
                                                                                     ny, mean);
    }
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_reduce_mean(cv_cuda_t *cuda, const cv_step_run_t *run,
                                         cv_err_t *err)
{
    return reduce_entry(cuda, run, true, cv_cuda_reduce_mean, err);
}

extern "C" cv_status cv_cuda_reduce_sum(cv_cuda_t *cuda, const cv_step_run_t *run,
                                        cv_err_t *err)
{
    return reduce_entry(cuda, run, false, cv_cuda_reduce_sum, err);
}
