/*
 * cuda_layout.cu: CUDA kernels of the layout ops: the views (Reshape,
 * Flatten, Squeeze, Unsqueeze, Identity, Dropout), Transpose, Concat,
 * Split, Slice, Gather, Expand, Tile and Pad, with the semantics of
 * src/backend/cpu/cpu_layout.c.
 *
 * These ops move elements without reading them, so they work on the
 * element size (1, 2, 4 or 8 bytes) and take every dtype. Transpose,
 * Concat, Split, Slice, Expand and Tile are one strided copy each (per
 * input or output for Concat and Split): an output region walked with
 * source strides, after merging axes that are contiguous on both sides as
 * cv_walk_simplify (backend/strided.c) does; a region contiguous on both sides becomes
 * one cudaMemcpyAsync. Pad (every mode) and Gather are gathers over the
 * output.
 *
 * Constant inputs that shape the work (Slice's starts/ends/axes/steps,
 * Pad's pads/axes, Split's split, Tile's repeats) are read on the host from
 * the plan or the graph, into the geometry that the CPU kernels use too
 * (src/backend/layout_geometry.c); when one is computed at run time the op
 * answers UNSUPPORTED and the step runs on the host. Pad's constant_value
 * and Gather's data are read on the device, so a tenant's own (a weight)
 * serves its slice.
 *
 * Gather indices out of range cannot be reported from the device without a
 * synchronisation: constant indices are checked on the host like the CPU
 * does; run-time ones out of range give zeros.
 */
#include "backend/cuda/cuda_ops.cuh"
#include "backend/layout_geometry.h"
#include "backend/strided.h"

/* ---- helpers ---------------------------------------------------------------- */

/* Bits of the value 1 in `dtype` (Dropout's mask), through the host
 * tensor helpers so that every dtype reads right. */
static uint64_t one_bits(cv_dtype_t dtype)
{
    uint64_t bits = 0;
    cv_tensor_t t = {dtype, {1, {1}}, &bits};
    cv_tensor_set_f64(&t, 0, 1.0);
    return bits;
}

template <class E> __global__ void fill_kernel(E *__restrict__ dst, int64_t n, E value)
{
    CV_CUDA_GRID_LOOP(int64_t, i, 0, n) dst[i] = value;
}

/* Writes n copies of the es-byte value `bits`. */
static cv_status fill(cudaStream_t stream, void *dst, size_t es, int64_t n, uint64_t bits,
                      cv_err_t *err)
{
    if (n == 0) return CV_STATUS_OK;
    unsigned blocks = cv_cuda_blocks(n);
    switch (es) {
    case 1:
        CV_CUDA_CHECK(cudaMemsetAsync(dst, (int)(bits & 0xff), (size_t)n, stream), err);
        return CV_STATUS_OK;
    case 2:
        fill_kernel<<<blocks, CV_CUDA_THREADS, 0, stream>>>((uint16_t *)dst, n, (uint16_t)bits);
        break;
    case 4:
        fill_kernel<<<blocks, CV_CUDA_THREADS, 0, stream>>>((uint32_t *)dst, n, (uint32_t)bits);
        break;
    case 8: fill_kernel<<<blocks, CV_CUDA_THREADS, 0, stream>>>((uint64_t *)dst, n, bits); break;
    default: CV_ASSERT(!"element size");
    }
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

static bool element_size_ok(size_t es) { return es == 1 || es == 2 || es == 4 || es == 8; }

/* ---- the strided copy ---------------------------------------------------------- */


template <class I> struct walk_dev {
    int n;
    I dims[CV_WALK_MAX], ds[CV_WALK_MAX], ss[CV_WALK_MAX];
};

/* Element i of the region (row-major over dims) goes from src + soff to
 * dst + doff; both pointers address the region's first element. */
template <class E, class I>
__global__ void strided_copy_kernel(E *__restrict__ dst, const E *__restrict__ src,
                                    const __grid_constant__ walk_dev<I> w, I total)
{
    CV_CUDA_GRID_LOOP(I, i, 0, total)
    {
        I rem = i, doff = 0, soff = 0;
        for (int a = w.n - 1; a >= 0; a--) {
            const I q = rem / w.dims[a], r = rem - q * w.dims[a];
            doff += r * w.ds[a];
            soff += r * w.ss[a];
            rem = q;
        }
        dst[doff] = src[soff];
    }
}

template <class E, class I>
static void strided_copy_go(cudaStream_t stream, const cv_walk_t *w, void *dst, const void *src,
                            int64_t total)
{
    walk_dev<I> d;
    memset(&d, 0, sizeof d);
    d.n = w->n;
    for (int a = 0; a < w->n; a++) {
        d.dims[a] = (I)w->dims[a];
        d.ds[a] = (I)w->ds[a];
        d.ss[a] = (I)w->ss[a];
    }
    strided_copy_kernel<E, I><<<cv_cuda_blocks(total), CV_CUDA_THREADS, 0, stream>>>(
        (E *)dst, (const E *)src, d, (I)total);
}

/* Copies the region `dims` from src (strides ss) to dst (strides ds); both
 * pointers address the region's first element; es is the element size and
 * `extent` bounds every offset (the larger tensor's element count). */
static cv_status strided_copy(cudaStream_t stream, size_t es, int ndim, const int64_t *dims,
                              void *dst, const int64_t *ds, const void *src, const int64_t *ss,
                              int64_t extent, cv_err_t *err)
{
    cv_walk_t w;
    if (!cv_walk_simplify(&w, ndim, dims, ds, ss)) return CV_STATUS_OK;
    int64_t total = 1;
    for (int a = 0; a < w.n; a++) total *= w.dims[a];
    if (w.n == 0 || (w.n == 1 && w.ds[0] == 1 && w.ss[0] == 1)) {
        CV_CUDA_CHECK(
            cudaMemcpyAsync(dst, src, (size_t)total * es, cudaMemcpyDeviceToDevice, stream), err);
        return CV_STATUS_OK;
    }
    bool small = total < CV_CUDA_SMALL_INDEX && extent < CV_CUDA_SMALL_INDEX;
#define GO(E)                                                                            \
    (small ? strided_copy_go<E, int32_t>(stream, &w, dst, src, total)                    \
           : strided_copy_go<E, int64_t>(stream, &w, dst, src, total))
    CV_FOR_ELEMENT_SIZE(es, GO);
#undef GO
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

static int64_t max_numel(const cv_tensor_t *a, const cv_tensor_t *b)
{
    return CV_MAX(cv_shape_numel(&a->shape), cv_shape_numel(&b->shape));
}

/* The start of an op that has no sliced kernel; checks the element size
 * of input 0. *done: return the status as it is. */
static cv_status layout_enter(cv_cuda_t *cuda, const cv_step_run_t *run, cv_cuda_op_fn self,
                              bool *done, cv_err_t *err)
{
    cv_status st = cv_cuda_enter(cuda, run, -1, self, done, err);
    if (*done) return st;
    const cv_tensor_t *x = run->inputs[0];
    if (!element_size_ok(cv_dtype_size(x->dtype))) {
        *done = true;
        return cv_cuda_unsupported(run, x->dtype, err);
    }
    return CV_STATUS_OK;
}

/* ---- view ops ------------------------------------------------------------------- */

/* The planner may give the output the input's storage: copy only when not. */
static cv_status view_entry(cv_cuda_t *cuda, const cv_step_run_t *run, cv_cuda_op_fn self,
                            cv_err_t *err)
{
    bool done;
    cv_status st = layout_enter(cuda, run, self, &done, err);
    if (done) return st;
    const cv_tensor_t *x = run->inputs[0];
    cv_tensor_t *y = run->outputs[0];
    CV_ASSERT(cv_tensor_nbytes(x) == cv_tensor_nbytes(y));
    return cv_cuda_copy(cuda, y->data, x->data, cv_tensor_nbytes(x), err);
}

extern "C" cv_status cv_cuda_reshape(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return view_entry(cuda, run, cv_cuda_reshape, err);
}

extern "C" cv_status cv_cuda_flatten(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return view_entry(cuda, run, cv_cuda_flatten, err);
}

extern "C" cv_status cv_cuda_squeeze(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return view_entry(cuda, run, cv_cuda_squeeze, err);
}

extern "C" cv_status cv_cuda_unsqueeze(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return view_entry(cuda, run, cv_cuda_unsqueeze, err);
}

extern "C" cv_status cv_cuda_identity(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return view_entry(cuda, run, cv_cuda_identity, err);
}

/* At inference nothing is dropped: output 0 is the input, the mask (when
 * asked for) keeps every element. */
extern "C" cv_status cv_cuda_dropout(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    bool done;
    cv_status st = layout_enter(cuda, run, cv_cuda_dropout, &done, err);
    if (done) return st;
    const cv_tensor_t *x = run->inputs[0];
    cv_tensor_t *y = cv_cuda_out(run, 0), *mask = cv_cuda_out(run, 1);
    if (y) {
        CV_ASSERT(cv_tensor_nbytes(x) == cv_tensor_nbytes(y));
        if ((st = cv_cuda_copy(cuda, y->data, x->data, cv_tensor_nbytes(x), err)) != CV_STATUS_OK)
            return st;
    }
    if (!mask) return CV_STATUS_OK;
    size_t es = cv_dtype_size(mask->dtype);
    if (!element_size_ok(es)) return cv_cuda_unsupported(run, mask->dtype, err);
    return fill(cuda->stream, mask->data, es, cv_shape_numel(&mask->shape), one_bits(mask->dtype),
                err);
}

/* ---- Transpose, Concat, Split, Slice, Expand, Tile ------------------------------ */

/* Runs one copy region from src into dst; `extent` bounds every offset
 * (the larger tensor's element count). */
static cv_status copy_region(cudaStream_t stream, size_t es, const cv_copy_region_t *r, void *dst,
                             const void *src, int64_t extent, cv_err_t *err)
{
    return strided_copy(stream, es, r->n, r->dims, (char *)dst + r->dst_at * (int64_t)es, r->ds,
                        (const char *)src + r->src_at * (int64_t)es, r->ss, extent, err);
}

extern "C" cv_status cv_cuda_transpose(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    bool done;
    cv_status st = layout_enter(cuda, run, cv_cuda_transpose, &done, err);
    if (done) return st;
    const cv_tensor_t *x = run->inputs[0];
    cv_tensor_t *y = run->outputs[0];
    cv_transpose_geometry_t g;
    if ((st = cv_transpose_geometry(run->node, &x->shape, &g, err)) != CV_STATUS_OK) return st;
    CV_ASSERT(cv_shape_equal(&g.out, &y->shape));
    return copy_region(cuda->stream, cv_dtype_size(x->dtype), &g.copy, y->data, x->data,
                       max_numel(x, y), err);
}

extern "C" cv_status cv_cuda_concat(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    bool done;
    cv_status st = layout_enter(cuda, run, cv_cuda_concat, &done, err);
    if (done) return st;
    cv_tensor_t *y = run->outputs[0];
    cv_concat_geometry_t g;
    if ((st = cv_concat_geometry(run->node, &y->shape, &g, err)) != CV_STATUS_OK) return st;
    cv_copy_region_t copy;
    for (int i = 0; i < run->ninputs && st == CV_STATUS_OK; i++) {
        const cv_tensor_t *x = run->inputs[i];
        CV_ASSERT(x && x->dtype == y->dtype);
        cv_concat_next(&g, &x->shape, &copy);
        st = copy_region(cuda->stream, cv_dtype_size(y->dtype), &copy, y->data, x->data,
                         max_numel(x, y), err);
    }
    return st;
}

extern "C" cv_status cv_cuda_split(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    bool done;
    cv_status st = layout_enter(cuda, run, cv_cuda_split, &done, err);
    if (done) return st;
    const cv_tensor_t *x = run->inputs[0], *split;
    /* The whole geometry before anything is launched: an UNSUPPORTED
     * answer must come first. */
    cv_split_geometry_t g;
    if ((st = cv_cuda_host_input(run, 1, "split", &split, err)) != CV_STATUS_OK ||
        (st = cv_split_geometry(run->node, &x->shape, split, run->noutputs, &g, err)) !=
            CV_STATUS_OK)
        return st;
    cv_copy_region_t copy;
    for (int i = 0; i < run->noutputs && st == CV_STATUS_OK; i++) {
        cv_tensor_t *y = run->outputs[i];
        if (cv_split_next(&g, y ? &y->shape : NULL, &copy))
            st = copy_region(cuda->stream, cv_dtype_size(x->dtype), &copy, y->data, x->data,
                             max_numel(x, y), err);
    }
    return st;
}

extern "C" cv_status cv_cuda_slice(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    bool done;
    cv_status st = layout_enter(cuda, run, cv_cuda_slice, &done, err);
    if (done) return st;
    const cv_tensor_t *x = run->inputs[0], *arg[4];
    cv_tensor_t *y = run->outputs[0];
    static const char *const names[4] = {"starts", "ends", "axes", "steps"};
    for (int i = 0; i < 4; i++)
        if ((st = cv_cuda_host_input(run, 1 + i, names[i], &arg[i], err)) != CV_STATUS_OK)
            return st;
    cv_slice_geometry_t g;
    if ((st = cv_slice_geometry(&x->shape, arg[0], arg[1], arg[2], arg[3], &g, err)) != CV_STATUS_OK)
        return st;
    CV_ASSERT(cv_shape_equal(&g.out, &y->shape));
    return copy_region(cuda->stream, cv_dtype_size(x->dtype), &g.copy, y->data, x->data,
                       max_numel(x, y), err);
}

extern "C" cv_status cv_cuda_expand(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    bool done;
    cv_status st = layout_enter(cuda, run, cv_cuda_expand, &done, err);
    if (done) return st;
    const cv_tensor_t *x = run->inputs[0];
    cv_tensor_t *y = run->outputs[0];
    cv_copy_region_t copy;
    cv_expand_copy(&x->shape, &y->shape, &copy);
    return copy_region(cuda->stream, cv_dtype_size(x->dtype), &copy, y->data, x->data,
                       max_numel(x, y), err);
}

extern "C" cv_status cv_cuda_tile(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    bool done;
    cv_status st = layout_enter(cuda, run, cv_cuda_tile, &done, err);
    if (done) return st;
    const cv_tensor_t *x = run->inputs[0], *repeats;
    cv_tensor_t *y = run->outputs[0];
    cv_tile_geometry_t g;
    if ((st = cv_cuda_host_input(run, 1, "repeats", &repeats, err)) != CV_STATUS_OK ||
        (st = cv_tile_geometry(&x->shape, repeats, &g, err)) != CV_STATUS_OK)
        return st;
    CV_ASSERT(cv_shape_equal(&g.out, &y->shape));
    return copy_region(cuda->stream, cv_dtype_size(x->dtype), &g.copy, y->data, x->data,
                       max_numel(x, y), err);
}

/* ---- Gather ------------------------------------------------------------------------ */

/* y[o, k, j] = x[o, idx[k], j]; slots: data (a tenant's own when it is a
 * weight, an embedding table), indices. */
template <class E, class IDX, int N>
__global__ void gather_kernel(E *__restrict__ y, const __grid_constant__ cv_slice_table<N> t,
                              int64_t nidx, int64_t inner, int64_t d)
{
    const int s = blockIdx.y;
    const E *x = (const E *)t.operand(s, 0);
    const IDX *idx = (const IDX *)t.operand(s, 1);
    CV_CUDA_GRID_LOOP(int64_t, i, t.begin[s], t.end[s])
    {
        const int64_t j = i % inner, rest = i / inner;
        const int64_t k = rest % nidx, o = rest / nidx;
        int64_t v = (int64_t)idx[k];
        if (v < 0) v += d;
        y[i] = v >= 0 && v < d ? x[(o * d + v) * inner + j] : (E)0;
    }
}

template <class E, class IDX, int N>
static cv_status gather_go(cudaStream_t stream, void *y, const cv_slice_table<N> &t, int ns,
                           int64_t nidx, int64_t inner, int64_t d, cv_err_t *err)
{
    dim3 grid(cv_cuda_blocks(cv_cuda_table_span(t, ns)), ns);
    gather_kernel<E, IDX, N><<<grid, CV_CUDA_THREADS, 0, stream>>>((E *)y, t, nidx, inner, d);
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

template <class E, int N>
static cv_status gather_sized(cudaStream_t stream, bool idx64, void *y, const cv_slice_table<N> &t,
                              int ns, int64_t nidx, int64_t inner, int64_t d, cv_err_t *err)
{
    if (idx64) return gather_go<E, int64_t>(stream, y, t, ns, nidx, inner, d, err);
    return gather_go<E, int32_t>(stream, y, t, ns, nidx, inner, d, err);
}

extern "C" cv_status cv_cuda_gather(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    cv_tensor_t *y = run->outputs[0];
    int64_t total = cv_shape_numel(&y->shape);
    bool done;
    cv_status st = cv_cuda_enter(cuda, run, total, cv_cuda_gather, &done, err);
    if (done) return st;
    const cv_tensor_t *x = run->inputs[0], *idx = run->inputs[1];
    size_t es = cv_dtype_size(x->dtype);
    if (!element_size_ok(es)) return cv_cuda_unsupported(run, x->dtype, err);
    /* Run-time indices out of range give zeros on the device; constant
     * ones are checked here, as on the CPU. */
    cv_gather_geometry_t g;
    if ((st = cv_gather_geometry(run->node, &x->shape, idx, cv_cuda_host_constant(run, 1), &g,
                                 err)) != CV_STATUS_OK)
        return st;
    const int64_t inner = g.inner, d = g.d, nidx = g.nidx;
    if (total == 0) return CV_STATUS_OK;
    const int values[2] = {cv_cuda_value(run, 0), cv_cuda_value(run, 1)};
    const void *bases[2] = {x->data, idx->data};
    bool idx64 = idx->dtype == CV_DTYPE_INT64;
    cudaStream_t stream = cuda->stream;
    void *out = y->data;
    auto launch = [&](const auto &t, int ns) -> cv_status {
        switch (es) {
        case 1: return gather_sized<uint8_t>(stream, idx64, out, t, ns, nidx, inner, d, err);
        case 2: return gather_sized<uint16_t>(stream, idx64, out, t, ns, nidx, inner, d, err);
        case 4: return gather_sized<uint32_t>(stream, idx64, out, t, ns, nidx, inner, d, err);
        default: return gather_sized<uint64_t>(stream, idx64, out, t, ns, nidx, inner, d, err);
        }
    };
    return cv_cuda_with_table(cuda, run, total, values, bases, 2, launch, err);
}

/* ---- Pad ---------------------------------------------------------------------------- */

/* Slots: data, constant_value (NULL: zero). */
template <class E, int N>
__global__ void pad_kernel(E *__restrict__ y, const __grid_constant__ cv_slice_table<N> t,
                           const __grid_constant__ cv_pad_geometry_t g)
{
    const int s = blockIdx.y;
    const E *x = (const E *)t.operand(s, 0);
    const E *pv = (const E *)t.operand(s, 1);
    const E fill = pv ? *pv : (E)0;
    CV_CUDA_GRID_LOOP(int64_t, i, t.begin[s], t.end[s])
    {
        int64_t rem = i, src = 0;
        bool outside = g.empty;
        for (int a = g.ndim - 1; a >= 0 && !outside; a--) {
            const int64_t o = rem % g.out[a];
            rem /= g.out[a];
            int64_t j = o - g.pb[a];
            if (j < 0 || j >= g.kept[a]) {
                if (g.mode == CV_PAD_MODE_CONSTANT) {
                    outside = true;
                    break;
                }
                j = cv_pad_fold(g.mode, j, g.kept[a]);
            }
            src += (g.lo[a] + j) * g.xs[a];
        }
        y[i] = outside ? fill : x[src];
    }
}

template <class E, int N>
static cv_status pad_go(cudaStream_t stream, void *y, const cv_slice_table<N> &t, int ns,
                        const cv_pad_geometry_t *g, cv_err_t *err)
{
    dim3 grid(cv_cuda_blocks(cv_cuda_table_span(t, ns)), ns);
    pad_kernel<E, N><<<grid, CV_CUDA_THREADS, 0, stream>>>((E *)y, t, *g);
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_pad(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    cv_tensor_t *y = run->outputs[0];
    int64_t ny = cv_shape_numel(&y->shape);
    bool done;
    cv_status st = cv_cuda_enter(cuda, run, ny, cv_cuda_pad, &done, err);
    if (done) return st;
    const cv_tensor_t *x = run->inputs[0];
    size_t es = cv_dtype_size(x->dtype);
    if (!element_size_ok(es)) return cv_cuda_unsupported(run, x->dtype, err);
    const cv_tensor_t *pads, *axes, *value = cv_cuda_in(run, 2);
    cv_pad_geometry_t g;
    if ((st = cv_cuda_host_input(run, 1, "pads", &pads, err)) != CV_STATUS_OK ||
        (st = cv_cuda_host_input(run, 3, "axes", &axes, err)) != CV_STATUS_OK ||
        (st = cv_pad_geometry(run->node, x, pads, value, axes, &g, err)) != CV_STATUS_OK)
        return st;
    for (int a = 0; a < g.ndim; a++) CV_ASSERT(g.out[a] == y->shape.dims[a]);
    /* The value is read on the device, so that a tenant's own serves its
     * slice. */
    if (!g.has_value) value = NULL;
    if (ny == 0) return CV_STATUS_OK;
    const int values[2] = {cv_cuda_value(run, 0), value ? cv_cuda_value(run, 2) : -1};
    const void *bases[2] = {x->data, value ? value->data : NULL};
    cudaStream_t stream = cuda->stream;
    void *out = y->data;
    auto launch = [&](const auto &t, int ns) -> cv_status {
        switch (es) {
        case 1: return pad_go<uint8_t>(stream, out, t, ns, &g, err);
        case 2: return pad_go<uint16_t>(stream, out, t, ns, &g, err);
        case 4: return pad_go<uint32_t>(stream, out, t, ns, &g, err);
        default: return pad_go<uint64_t>(stream, out, t, ns, &g, err);
        }
    };
    return cv_cuda_with_table(cuda, run, ny, values, bases, 2, launch, err);
}
