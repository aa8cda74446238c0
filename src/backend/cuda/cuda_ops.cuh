/*
 * cuda_ops.cuh: what the CUDA op files other than Conv/Gemm/MatMul share
 * (cuda_elementwise.cu, cuda_pool.cu, cuda_layout.cu, cuda_nn.cu): launch
 * geometry, reading constant inputs on the host, and how a step of a wave
 * with several tenants finds each tenant's parameters.
 *
 * Slices in one launch. A weighted step (one that reads a weight, which
 * differs between tenants) of a multi-slice wave passes the kernel a small
 * table by value: per slice, the range of "units" of output 0 it covers
 * (elements, planes or normalized rows, as the op counts) and up to
 * CV_CUDA_SLICE_PTRS operand pointers, the weights being that slice's own.
 * The grid's y index is the slice, so a block never searches for its slice.
 * A table travels as a __grid_constant__ kernel parameter rather than
 * through cv_cuda_stage: no copy to enqueue, nothing that a later step can
 * overwrite, and blocks read it from the constant bank. A single slice gets
 * a table of one entry (the step's own pointers), so both cases share one
 * kernel.
 *
 * Steps that cannot be cut that way (output not stacked along rows, more
 * slices than a table holds, an op without a sliced kernel) run once per
 * slice on row views, as the CPU backend does (cv_cuda_per_slice).
 *
 * Weights through the members table. In a wave the super-kernel cache may
 * capture (cv_cuda_members_indirect), a weight's pointer must not be a
 * kernel parameter: the graph would then serve those tenants only. Its
 * slots are marked in the table instead, and the kernel reads them from a
 * small device array (per slice, per slot) staged with cv_cuda_stage and
 * written by cv_cuda_stage_member, which a replay with other members
 * rewrites. One table of one entry too, for a wave of one slice.
 *
 * Also here: numpy broadcasting (collapsed by src/backend/broadcast.c, as
 * on the CPU) reduced to a few index forms (elementwise ops,
 * LayerNormalization's Scale and B), and warp and block reductions.
 *
 * Not here: synchronisation of any kind. Every launch goes to cuda->stream.
 */
#ifndef CV_CUDA_OPS_CUH
#define CV_CUDA_OPS_CUH

#include "backend/broadcast.h"
#include "backend/cuda/cuda_internal.h"

#include <stdint.h>
#include <string.h>

#define CV_CUDA_THREADS 256
/* Grid-stride loops cover the rest; 2^20 blocks fill any current GPU. */
#define CV_CUDA_MAX_BLOCKS (1 << 20)
/* Slices per fused launch and operand pointers per slice: 64 x (2 + 4)
 * eight-byte words keep a table near 3 KiB, under the classic 4 KiB limit
 * for kernel parameters. */
#define CV_CUDA_SLICE_MAX 64
#define CV_CUDA_SLICE_PTRS 4
/* Index arithmetic runs in 32 bits below this many elements (64-bit
 * division is several times slower); the margin keeps i + stride exact. */
#define CV_CUDA_SMALL_INDEX (INT64_C(1) << 30)

typedef cv_status (*cv_cuda_op_fn)(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err);

/* Units [begin[s], end[s]) of the output and the operands of slice s:
 * slot k in ptr[s][k], or, where bit k of member_slots is set (a tenant's
 * weight in a wave that may be captured), in members[s * member_stride + k]
 * on the device. Kernels read operands through operand(). */
template <int N> struct cv_slice_table {
    int64_t begin[N], end[N];
    const void *ptr[N][CV_CUDA_SLICE_PTRS];
    const void *const *members;
    unsigned member_slots;
    int member_stride;
    __device__ __forceinline__ const void *operand(int s, int k) const
    {
        return (member_slots >> k) & 1u ? members[s * member_stride + k] : ptr[s][k];
    }
};

/* ---- launch geometry ----------------------------------------------------- */

static inline unsigned cv_cuda_blocks(int64_t n, int threads = CV_CUDA_THREADS)
{
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > CV_CUDA_MAX_BLOCKS) b = CV_CUDA_MAX_BLOCKS;
    return (unsigned)b;
}

/* Longest slice range of a table, for the grid's x extent. */
template <int N> static inline int64_t cv_cuda_table_span(const cv_slice_table<N> &t, int n)
{
    int64_t m = 0;
    for (int s = 0; s < n; s++) m = CV_MAX(m, t.end[s] - t.begin[s]);
    return m;
}

/* ---- reading the step ------------------------------------------------------ */

static inline const cv_tensor_t *cv_cuda_in(const cv_step_run_t *run, int i)
{
    return i < run->ninputs ? run->inputs[i] : NULL;
}

static inline cv_tensor_t *cv_cuda_out(const cv_step_run_t *run, int i)
{
    return i < run->noutputs ? run->outputs[i] : NULL;
}

/* Graph value of input i, or -1 when omitted. */
static inline int cv_cuda_value(const cv_step_run_t *run, int i)
{
    return i < run->ninputs && run->inputs[i] ? run->node->inputs[i] : -1;
}

static inline bool cv_cuda_value_is_weight(const cv_step_run_t *run, int v)
{
    return v >= 0 && run->graph->values[v].constant && run->graph->values[v].is_weight;
}

/* Host copy of input i when it is a structural constant (Slice's starts,
 * Pad's pads, Reduce's axes...): a plan-time constant or a non-weight
 * constant of the graph, identical for every tenant of the family. NULL
 * for activations and for weights, whose values differ between tenants
 * (the plan's graph is one tenant's). */
static inline const cv_tensor_t *cv_cuda_host_constant(const cv_step_run_t *run, int i)
{
    int v = cv_cuda_value(run, i);
    if (v < 0) return NULL;
    if (run->plan && run->plan->values && run->plan->values[v].storage == CV_STORAGE_PLAN_CONSTANT)
        return run->plan->values[v].plan_constant;
    const cv_value_t *val = &run->graph->values[v];
    return val->constant && !val->is_weight ? val->constant : NULL;
}

/* Input i as a geometry function of src/backend reads it (host data): NULL
 * when omitted; UNSUPPORTED naming `what` when it is present but not a
 * structural constant, so that the step runs on the host. */
static inline cv_status cv_cuda_host_input(const cv_step_run_t *run, int i, const char *what,
                                           const cv_tensor_t **t, cv_err_t *err)
{
    *t = NULL;
    if (!cv_cuda_in(run, i)) return CV_STATUS_OK;
    *t = cv_cuda_host_constant(run, i);
    if (!*t)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s on CUDA needs %s to be a constant",
                         cv_op_name(run->node->op), what);
    return CV_STATUS_OK;
}

static inline cv_status cv_cuda_unsupported(const cv_step_run_t *run, cv_dtype_t dtype,
                                            cv_err_t *err)
{
    return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s on %s is not supported on CUDA",
                     cv_op_name(run->node->op), cv_dtype_name(dtype));
}

/* True when the step reads a weight. */
static inline bool cv_cuda_weighted(const cv_step_run_t *run)
{
    for (int i = 0; i < run->ninputs; i++)
        if (cv_cuda_value_is_weight(run, cv_cuda_value(run, i))) return true;
    return false;
}

/* Whether slices need their own parameters in this step. */
static inline bool cv_cuda_need_table(const cv_step_run_t *run)
{
    return run->nslices > 1 && cv_cuda_weighted(run);
}

/* Rows of the whole wave. */
static inline int64_t cv_cuda_total_rows(const cv_step_run_t *run) { return cv_step_total_rows(run); }

/* Whether one launch can serve every slice, output 0 counting `units`
 * units: the output is stacked by rows and whole rows are whole units. */
static inline bool cv_cuda_fusable(const cv_step_run_t *run, int64_t units)
{
    int64_t total = cv_cuda_total_rows(run);
    if (run->nslices > CV_CUDA_SLICE_MAX || !run->out_batched || !run->out_batched[0]) return false;
    if (total <= 0 || units % total != 0) return false;
    for (int s = 0; s < run->nslices; s++) {
        const cv_wave_slice_t *sl = &run->slices[s];
        if (sl->row0 < 0 || sl->rows < 0 || sl->row0 + sl->rows > total) return false;
    }
    return true;
}

/* Fills a table over `units` units of output 0: slot k points at bases[k],
 * or at each slice's own copy where values[k] (a graph value, or -1 for a
 * pointer that is not an input) is a weight. For N > 1 the caller checked
 * cv_cuda_fusable. Returns the number of entries (the grid's y extent). */
template <int N>
static inline int cv_cuda_table_fill(const cv_step_run_t *run, int64_t units, const int *values,
                                     const void *const *bases, int nslots, cv_slice_table<N> *t)
{
    CV_ASSERT(nslots <= CV_CUDA_SLICE_PTRS);
    memset(t, 0, sizeof *t);
    if constexpr (N == 1) {
        t->begin[0] = 0;
        t->end[0] = units;
        for (int k = 0; k < nslots; k++) t->ptr[0][k] = bases[k];
        return 1;
    } else {
        CV_ASSERT(run->nslices <= N);
        int64_t per_row = units / cv_cuda_total_rows(run);
        for (int s = 0; s < run->nslices; s++) {
            const cv_wave_slice_t *sl = &run->slices[s];
            t->begin[s] = sl->row0 * per_row;
            t->end[s] = (sl->row0 + sl->rows) * per_row;
            for (int k = 0; k < nslots; k++) {
                bool own = cv_cuda_value_is_weight(run, values[k]);
                t->ptr[s][k] = own ? sl->constants[values[k]] : bases[k];
                CV_ASSERT(t->ptr[s][k] || !own);
            }
        }
        return run->nslices;
    }
}

/* In a wave the cache may capture, moves the weight slots of a filled
 * table of n entries into a members array on the device (see the top of
 * this file); a no-op elsewhere, or when no slot holds a weight. */
template <int N>
static inline cv_status cv_cuda_table_members(cv_cuda_t *cuda, const cv_step_run_t *run, const int *values,
                                              int nslots, int n, cv_slice_table<N> *t, cv_err_t *err)
{
    if (!cv_cuda_members_indirect(cuda)) return CV_STATUS_OK;
    unsigned slots = 0;
    for (int k = 0; k < nslots; k++)
        if (cv_cuda_value_is_weight(run, values[k])) slots |= 1u << k;
    if (!slots) return CV_STATUS_OK;
    size_t bytes = sizeof(void *) * (size_t)n * (size_t)nslots;
    void *host, *dev;
    cv_status st = cv_cuda_stage(cuda, bytes, &host, &dev, err);
    if (st != CV_STATUS_OK) return st;
    const void **words = (const void **)host;
    memset(words, 0, bytes);
    for (int s = 0; s < n; s++)
        for (int k = 0; k < nslots; k++) {
            if (!((slots >> k) & 1u)) continue;
            cv_cuda_stage_member(cuda, run, &words[s * nslots + k], s, values[k], false, 0);
            t->ptr[s][k] = NULL; /* nothing of a tenant's stays in the parameters */
        }
    CV_CUDA_CHECK(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, cuda->stream), err);
    t->members = (const void *const *)dev;
    t->member_slots = slots;
    t->member_stride = nslots;
    return CV_STATUS_OK;
}

/* Calls launch(table, entries) with a one-entry table when slices share
 * the step's parameters and with a per-slice one otherwise. The caller has
 * already sent unfusable steps to cv_cuda_per_slice. */
template <class Launch>
static inline cv_status cv_cuda_with_table(cv_cuda_t *cuda, const cv_step_run_t *run, int64_t units,
                                           const int *values, const void *const *bases, int nslots,
                                           Launch launch, cv_err_t *err)
{
    if (!cv_cuda_need_table(run)) {
        cv_slice_table<1> t;
        int n = cv_cuda_table_fill(run, units, values, bases, nslots, &t);
        cv_status st = cv_cuda_table_members(cuda, run, values, nslots, n, &t, err);
        return st != CV_STATUS_OK ? st : launch(t, n);
    }
    cv_slice_table<CV_CUDA_SLICE_MAX> t;
    int n = cv_cuda_table_fill(run, units, values, bases, nslots, &t);
    cv_status st = cv_cuda_table_members(cuda, run, values, nslots, n, &t, err);
    return st != CV_STATUS_OK ? st : launch(t, n);
}


/* Runs fn once per slice, on that slice's rows of stacked tensors and with
 * its tenant's weights: the path for weighted steps that one launch cannot
 * serve. Each call sees a one-slice wave. */
static inline cv_status cv_cuda_per_slice(cv_cuda_t *cuda, const cv_step_run_t *run,
                                          cv_cuda_op_fn fn, cv_err_t *err)
{
    cv_step_views_t views;
    cv_status st = cv_step_views_init(&views, run, err);
    for (int s = 0; s < run->nslices && st == CV_STATUS_OK; s++) {
        cv_step_slice_views(run, s, &views);
        cv_step_run_t one = *run;
        one.inputs = views.in_ptrs;
        one.outputs = views.out_ptrs;
        one.slices = &run->slices[s];
        one.nslices = 1;
        st = fn(cuda, &one, err);
    }
    cv_step_views_free(&views);
    return st;
}

/* The start every op entry shares: sends a weighted multi-slice step that
 * one launch over `units` units of output 0 cannot serve (units < 0: the
 * op has no sliced kernel) to the per-slice loop, and then *done tells the
 * caller to return the status as it is. (Weights stay FP32 on the device
 * whatever the tenant's precision: cuda_internal.h.) */
static inline cv_status cv_cuda_enter(cv_cuda_t *cuda, const cv_step_run_t *run, int64_t units,
                                      cv_cuda_op_fn self, bool *done, cv_err_t *err)
{
    *done = cv_cuda_need_table(run) && (units < 0 || !cv_cuda_fusable(run, units));
    return *done ? cv_cuda_per_slice(cuda, run, self, err) : CV_STATUS_OK;
}

/* cv_cuda_enter for an op without a sliced kernel that reads FP32 input 0
 * only: another dtype answers UNSUPPORTED (and sets *done), so that the
 * step runs on the host. */
static inline cv_status cv_cuda_enter_f32(cv_cuda_t *cuda, const cv_step_run_t *run,
                                          cv_cuda_op_fn self, bool *done, cv_err_t *err)
{
    cv_status st = cv_cuda_enter(cuda, run, -1, self, done, err);
    if (*done) return st;
    cv_dtype_t dtype = run->inputs[0]->dtype;
    *done = dtype != CV_DTYPE_FP32;
    return *done ? cv_cuda_unsupported(run, dtype, err) : CV_STATUS_OK;
}

/* cv_cuda_enter_f32 as a statement (as CV_CUDA_CHECK): returns its status
 * from the enclosing op entry when it served or refused the step. */
#define CV_CUDA_ENTER_F32(cuda, run, self, err)                                          \
    do {                                                                                 \
        bool cv_done_;                                                                   \
        cv_status cv_st_ = cv_cuda_enter_f32(cuda, run, self, &cv_done_, err);           \
        if (cv_done_) return cv_st_;                                                     \
    } while (0)

/* A copy on the stream, skipped when the bytes are already in place (view
 * ops whose output shares the input's storage). */
static inline cv_status cv_cuda_copy(cv_cuda_t *cuda, void *dst, const void *src, size_t bytes,
                                     cv_err_t *err)
{
    if (dst == src || bytes == 0) return CV_STATUS_OK;
    CV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda->stream), err);
    return CV_STATUS_OK;
}

/* ---- numpy broadcasting ------------------------------------------------------ */

enum { CV_MAP_SCALAR, CV_MAP_SAME, CV_MAP_CHANNEL };

/* Operand index of output element i in the three simple forms. */
template <class I> struct cv_operand_map {
    int mode;
    I inner, count;
    __device__ __forceinline__ I at(I i) const
    {
        return mode == CV_MAP_SAME ? i : mode == CV_MAP_SCALAR ? (I)0 : (i / inner) % count;
    }
};

/* Operand k in a simple form, or false when its non-broadcast dims are not
 * one contiguous run of the output's. */
template <class I>
static inline bool cv_operand_simple(const cv_broadcast_t *bc, int k, cv_operand_map<I> *m)
{
    int first = -1, last = -1;
    for (int d = 0; d < bc->ndim; d++)
        if (bc->strides[k][d] != 0) {
            if (first < 0) first = d;
            last = d;
        }
    if (first < 0) {
        *m = cv_operand_map<I>{CV_MAP_SCALAR, 1, 1};
        return true;
    }
    if (bc->strides[k][last] != 1) return false;
    for (int d = first; d < last; d++)
        if (bc->strides[k][d] != bc->strides[k][d + 1] * bc->dims[d + 1]) return false;
    int64_t count = 1, inner = 1;
    for (int d = first; d <= last; d++) count *= bc->dims[d];
    for (int d = last + 1; d < bc->ndim; d++) inner *= bc->dims[d];
    bool same = first == 0 && last == bc->ndim - 1;
    *m = cv_operand_map<I>{same ? CV_MAP_SAME : CV_MAP_CHANNEL, (I)inner, (I)count};
    return true;
}

/* ---- device helpers -------------------------------------------------------- */

/* for (i = first; i < end; i += stride) over this block's share, I the
 * index type (int32_t below CV_CUDA_SMALL_INDEX, else int64_t). */
#define CV_CUDA_GRID_LOOP(I, i, first, end)                                              \
    for (I i = (I)(first) + (I)(blockIdx.x * blockDim.x + threadIdx.x); i < (I)(end);    \
         i += (I)(gridDim.x * blockDim.x))

template <class T> __device__ __forceinline__ T cv_warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <class T> __device__ __forceinline__ T cv_warp_max(T v)
{
    for (int o = 16; o > 0; o >>= 1) {
        T u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u > v ? u : v;
    }
    return v;
}

/* Sum (or max) over a group of G threads: a warp (G = 32) or the whole
 * block (G = blockDim.x, a multiple of 32 up to 1024). Every thread of the
 * group must call it; all receive the result. */
template <int G, bool IS_MAX, class T> __device__ __forceinline__ T cv_group_reduce(T v)
{
    v = IS_MAX ? cv_warp_max(v) : cv_warp_sum(v);
    if (G == 32) return v;
    __shared__ T part[G / 32 > 0 ? G / 32 : 1];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads(); /* the previous call's readers are done with part[] */
    if (lane == 0) part[warp] = v;
    __syncthreads();
    T r = part[0];
    for (int w = 1; w < G / 32; w++) r = IS_MAX ? (part[w] > r ? part[w] : r) : r + part[w];
    return r;
}

#endif /* CV_CUDA_OPS_CUH */
