/*
 * cuda_elementwise.cu: CUDA kernels of the elementwise ops (activations,
 * unary math, Clip, broadcasting Add/Sub/Mul/Div/Pow/Min/Max, PRelu,
 * Sum/Mean, Equal, Where, Cast), with the semantics of
 * src/backend/cpu/cpu_elementwise.c (NaN-propagating Min/Max, Mean as a
 * sum divided by the count, Cast saturating like the CPU's).
 *
 * Broadcasting: the output's dims are collapsed where every operand stays
 * contiguous or broadcast (src/backend/broadcast.c, shared with the CPU
 * kernels). Then each operand is either a scalar, the output's own index
 * (same shape) or a per-channel run `(i / inner) % count` ([N,C,H,W] with
 * [C,1,1], [..,W] with [W]); only operands that fit none of these take the
 * general kernel, which walks up to CV_MAX_DIMS strides passed by value.
 *
 * Weighted steps (a bias, a scale, a PRelu slope or a Clip bound that is a
 * tenant's weight) run every slice in one launch through a slice table
 * (cuda_ops.cuh): block row y is slice y and reads that slice's operand.
 *
 * FP32 only, except Equal (FP32, INT64, INT32, BOOL), Where (any element
 * size) and Cast (FP32, INT64, INT32, BOOL, FP16 in every pair); integer
 * arithmetic goes to the host.
 */
#include "backend/cuda/cuda_ops.cuh"

#include <cuda_fp16.h>
#include <math.h>

#include <type_traits>

/* The general form: the collapsed dims and every operand's strides. */
template <class I> struct bcast_dev {
    int ndim;
    I dims[CV_MAX_DIMS];
    I strides[CV_BROADCAST_OPERANDS][CV_MAX_DIMS];
};

template <class I> static bcast_dev<I> bcast_to_dev(const cv_broadcast_t *bc)
{
    bcast_dev<I> d;
    memset(&d, 0, sizeof d);
    d.ndim = bc->ndim;
    for (int i = 0; i < bc->ndim; i++) {
        d.dims[i] = (I)bc->dims[i];
        for (int k = 0; k < bc->nin; k++) d.strides[k][i] = (I)bc->strides[k][i];
    }
    return d;
}

/* Offsets of output element i in each of K operands. */
template <int K, class I>
__device__ __forceinline__ void bcast_offsets(const bcast_dev<I> &bc, I i, I *off)
{
    for (int k = 0; k < K; k++) off[k] = 0;
    for (int d = bc.ndim - 1; d >= 0; d--) {
        I q = i / bc.dims[d], r = i - q * bc.dims[d];
        for (int k = 0; k < K; k++) off[k] += r * bc.strides[k][d];
        i = q;
    }
}

/* ---- unary ops ------------------------------------------------------------ */

enum unary_op {
    U_RELU, U_LEAKY_RELU, U_ELU, U_SELU, U_SIGMOID, U_HARD_SIGMOID, U_HARD_SWISH, U_TANH,
    U_ERF, U_GELU, U_GELU_TANH, U_SOFTPLUS, U_SQRT, U_EXP, U_LOG, U_NEG, U_ABS,
};

typedef struct unary_params {
    float alpha, beta, gamma;
} unary_params_t;

__device__ __forceinline__ float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

template <int OP> __device__ __forceinline__ float unary_apply(float x, const unary_params_t &p)
{
    switch (OP) {
    case U_RELU: return x < 0.0f ? 0.0f : x;
    case U_LEAKY_RELU: return x < 0.0f ? p.alpha * x : x;
    case U_ELU: return x < 0.0f ? p.alpha * expm1f(x) : x;
    case U_SELU: return x <= 0.0f ? p.gamma * (p.alpha * expm1f(x)) : p.gamma * x;
    case U_SIGMOID:
        if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
        else {
            float e = expf(x);
            return e / (1.0f + e);
        }
    case U_HARD_SIGMOID: return clamp01(p.alpha * x + p.beta);
    case U_HARD_SWISH: return x * clamp01(x * (float)(1.0 / 6.0) + 0.5f);
    case U_TANH: return tanhf(x);
    case U_ERF: return erff(x);
    case U_GELU: return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    case U_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
    case U_SOFTPLUS: return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
    case U_SQRT: return sqrtf(x);
    case U_EXP: return expf(x);
    case U_LOG: return logf(x);
    case U_NEG: return -x;
    case U_ABS: return fabsf(x);
    }
    return x;
}

template <int OP>
__global__ void unary_kernel(const float *__restrict__ x, float *__restrict__ y, int64_t n,
                             unary_params_t p)
{
    CV_CUDA_GRID_LOOP(int64_t, i, 0, n) y[i] = unary_apply<OP>(x[i], p);
}

template <int OP>
static cv_status unary_launch(cudaStream_t stream, const float *x, float *y, int64_t n,
                              unary_params_t p, cv_err_t *err)
{
    if (n == 0) return CV_STATUS_OK;
    unary_kernel<OP><<<cv_cuda_blocks(n), CV_CUDA_THREADS, 0, stream>>>(x, y, n, p);
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

/* A unary op never reads a weight (it would have been folded), so it has
 * no sliced kernel: self is the per-slice path should one arrive. */
template <int OP>
static cv_status unary_entry(cv_cuda_t *cuda, const cv_step_run_t *run, unary_params_t p,
                             cv_cuda_op_fn self, cv_err_t *err)
{
    CV_CUDA_ENTER_F32(cuda, run, self, err);
    const cv_tensor_t *x = run->inputs[0];
    cv_tensor_t *y = run->outputs[0];
    CV_ASSERT(y->dtype == CV_DTYPE_FP32 && cv_shape_numel(&y->shape) == cv_shape_numel(&x->shape));
    return unary_launch<OP>(cuda->stream, (const float *)x->data, (float *)y->data,
                            cv_shape_numel(&x->shape), p, err);
}

#define DEF_UNARY(stem, OP, ...)                                                         \
    extern "C" cv_status cv_cuda_##stem(cv_cuda_t *cuda, const cv_step_run_t *run,       \
                                        cv_err_t *err)                                   \
    {                                                                                    \
        unary_params_t p = {__VA_ARGS__};                                                \
        return unary_entry<OP>(cuda, run, p, cv_cuda_##stem, err);                       \
    }

DEF_UNARY(relu, U_RELU, 0.0f, 0.0f, 0.0f)
DEF_UNARY(leaky_relu, U_LEAKY_RELU, cv_node_attr_float(run->node, "alpha", 0.01f), 0.0f, 0.0f)
DEF_UNARY(elu, U_ELU, cv_node_attr_float(run->node, "alpha", 1.0f), 0.0f, 0.0f)
DEF_UNARY(selu, U_SELU, cv_node_attr_float(run->node, "alpha", 1.67326319217681884765625f), 0.0f,
          cv_node_attr_float(run->node, "gamma", 1.05070102214813232421875f))
DEF_UNARY(sigmoid, U_SIGMOID, 0.0f, 0.0f, 0.0f)
DEF_UNARY(hard_sigmoid, U_HARD_SIGMOID, cv_node_attr_float(run->node, "alpha", 0.2f),
          cv_node_attr_float(run->node, "beta", 0.5f), 0.0f)
DEF_UNARY(hard_swish, U_HARD_SWISH, 0.0f, 0.0f, 0.0f)
DEF_UNARY(tanh, U_TANH, 0.0f, 0.0f, 0.0f)
DEF_UNARY(erf, U_ERF, 0.0f, 0.0f, 0.0f)
DEF_UNARY(softplus, U_SOFTPLUS, 0.0f, 0.0f, 0.0f)
DEF_UNARY(sqrt, U_SQRT, 0.0f, 0.0f, 0.0f)
DEF_UNARY(exp, U_EXP, 0.0f, 0.0f, 0.0f)
DEF_UNARY(log, U_LOG, 0.0f, 0.0f, 0.0f)
DEF_UNARY(neg, U_NEG, 0.0f, 0.0f, 0.0f)
DEF_UNARY(abs, U_ABS, 0.0f, 0.0f, 0.0f)

extern "C" cv_status cv_cuda_gelu(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    const char *approx = cv_node_attr_string(run->node, "approximate", "none");
    unary_params_t p = {0.0f, 0.0f, 0.0f};
    if (strcmp(approx, "tanh") == 0)
        return unary_entry<U_GELU_TANH>(cuda, run, p, cv_cuda_gelu, err);
    if (strcmp(approx, "none") == 0) return unary_entry<U_GELU>(cuda, run, p, cv_cuda_gelu, err);
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                     "attribute approximate is \"%s\", expected \"none\" or \"tanh\"", approx);
}

/* ---- Clip ------------------------------------------------------------------ */

/* Bounds are read on the device (slots 1 and 2, NULL when absent), so they
 * may be activations or per-tenant weights. max(x, lo) then min(., hi), as
 * the CPU: lo > hi gives hi everywhere and NaN passes through. */
template <int N>
__global__ void clip_kernel(float *__restrict__ y, const __grid_constant__ cv_slice_table<N> t)
{
    const int s = blockIdx.y;
    const float *x = (const float *)t.operand(s, 0);
    const float *plo = (const float *)t.operand(s, 1), *phi = (const float *)t.operand(s, 2);
    const float lo = plo ? *plo : -INFINITY, hi = phi ? *phi : INFINITY;
    CV_CUDA_GRID_LOOP(int64_t, i, t.begin[s], t.end[s])
    {
        float v = x[i];
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}

extern "C" cv_status cv_cuda_clip(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    const cv_tensor_t *x = run->inputs[0];
    cv_tensor_t *y = run->outputs[0];
    int64_t n = cv_shape_numel(&x->shape);
    bool done;
    cv_status st = cv_cuda_enter(cuda, run, n, cv_cuda_clip, &done, err);
    if (done) return st;
    if (x->dtype != CV_DTYPE_FP32) return cv_cuda_unsupported(run, x->dtype, err);
    const cv_tensor_t *lo = cv_cuda_in(run, 1), *hi = cv_cuda_in(run, 2);
    const cv_tensor_t *bounds[2] = {lo, hi};
    for (const cv_tensor_t *b : bounds)
        if (b && (b->dtype != CV_DTYPE_FP32 || cv_shape_numel(&b->shape) != 1))
            return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                             "Clip's bounds must be FP32 scalars like its input");
    if (n == 0) return CV_STATUS_OK;
    const int values[3] = {cv_cuda_value(run, 0), cv_cuda_value(run, 1), cv_cuda_value(run, 2)};
    const void *bases[3] = {x->data, lo ? lo->data : NULL, hi ? hi->data : NULL};
    float *out = (float *)y->data;
    cudaStream_t stream = cuda->stream;
    auto launch = [&](const auto &t, int ns) -> cv_status {
        dim3 grid(cv_cuda_blocks(cv_cuda_table_span(t, ns)), ns);
        clip_kernel<<<grid, CV_CUDA_THREADS, 0, stream>>>(out, t);
        CV_CUDA_CHECK_LAUNCH(err);
        return CV_STATUS_OK;
    };
    return cv_cuda_with_table(cuda, run, n, values, bases, 3, launch, err);
}

/* ---- broadcasting binary ops ----------------------------------------------- */

enum binary_op { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MIN, B_MAX, B_PRELU, B_EQUAL, B_EQUAL_BOOL };

template <int OP, class T, class TO> __device__ __forceinline__ TO binary_apply(T a, T b)
{
    if constexpr (OP == B_ADD) return a + b;
    else if constexpr (OP == B_SUB) return a - b;
    else if constexpr (OP == B_MUL) return a * b;
    else if constexpr (OP == B_DIV) return a / b;
    /* x^2 (decomposed norms) is the CPU's plain product, bit for bit. */
    else if constexpr (OP == B_POW) return b == 2.0f ? a * a : powf(a, b);
    /* Min and Max propagate NaN from either side, like numpy and the CPU. */
    else if constexpr (OP == B_MIN) return (a < b || a != a) ? a : b;
    else if constexpr (OP == B_MAX) return (a > b || a != a) ? a : b;
    else if constexpr (OP == B_PRELU) return a < 0 ? a * b : a;
    else if constexpr (OP == B_EQUAL) return (TO)(a == b ? 1 : 0);
    else return (TO)((a != 0) == (b != 0) ? 1 : 0);
}

/* Operand pointers come from the slice table (slots 0 and 1); out may be
 * one of them (Sum accumulates in place): each element is read before it
 * is written, by the same thread. */
template <int OP, class T, class TO, class I, int N>
__global__ void binary_simple_kernel(TO *out, const __grid_constant__ cv_slice_table<N> t,
                                     const cv_operand_map<I> ma, const cv_operand_map<I> mb)
{
    const int s = blockIdx.y;
    const T *a = (const T *)t.operand(s, 0), *b = (const T *)t.operand(s, 1);
    CV_CUDA_GRID_LOOP(I, i, t.begin[s], t.end[s])
    out[i] = binary_apply<OP, T, TO>(a[ma.at(i)], b[mb.at(i)]);
}

template <int OP, class T, class TO, class I, int N>
__global__ void binary_general_kernel(TO *out, const __grid_constant__ cv_slice_table<N> t,
                                      const __grid_constant__ bcast_dev<I> bc)
{
    const int s = blockIdx.y;
    const T *a = (const T *)t.operand(s, 0), *b = (const T *)t.operand(s, 1);
    CV_CUDA_GRID_LOOP(I, i, t.begin[s], t.end[s])
    {
        I off[2];
        bcast_offsets<2>(bc, i, off);
        out[i] = binary_apply<OP, T, TO>(a[off[0]], b[off[1]]);
    }
}

template <int OP, class T, class TO, class I, int N>
static cv_status binary_go(cudaStream_t stream, const cv_broadcast_t *bc,
                           const cv_slice_table<N> &t, int ns, TO *out, cv_err_t *err)
{
    dim3 grid(cv_cuda_blocks(cv_cuda_table_span(t, ns)), ns);
    cv_operand_map<I> ma, mb;
    if (cv_operand_simple(bc, 0, &ma) && cv_operand_simple(bc, 1, &mb)) {
        binary_simple_kernel<OP, T, TO, I, N><<<grid, CV_CUDA_THREADS, 0, stream>>>(out, t, ma, mb);
    } else {
        binary_general_kernel<OP, T, TO, I, N>
            <<<grid, CV_CUDA_THREADS, 0, stream>>>(out, t, bcast_to_dev<I>(bc));
    }
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

/* out = OP(a, b) broadcast to out's shape; va and vb are the operands'
 * graph values (-1 for one that is not an input), so that a weight among
 * them is taken per slice. */
template <int OP, class T, class TO>
static cv_status binary_launch(cv_cuda_t *cuda, const cv_step_run_t *run, const void *a, int va,
                               const cv_shape_t *sa, const void *b, int vb, const cv_shape_t *sb,
                               cv_tensor_t *out, cv_err_t *err)
{
    int64_t n = cv_shape_numel(&out->shape);
    if (n == 0) return CV_STATUS_OK;
    const cv_shape_t *shapes[2] = {sa, sb};
    cv_broadcast_t bc;
    cv_broadcast_collapse(shapes, 2, &out->shape, &bc);
    const int values[2] = {va, vb};
    const void *bases[2] = {a, b};
    TO *o = (TO *)out->data;
    cudaStream_t stream = cuda->stream;
    auto launch = [&](const auto &t, int ns) -> cv_status {
        if (n < CV_CUDA_SMALL_INDEX)
            return binary_go<OP, T, TO, int32_t>(stream, &bc, t, ns, o, err);
        return binary_go<OP, T, TO, int64_t>(stream, &bc, t, ns, o, err);
    };
    return cv_cuda_with_table(cuda, run, n, values, bases, 2, launch, err);
}

/* The step's inputs 0 and 1 into output 0. */
template <int OP, class T, class TO>
static cv_status binary_step(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    const cv_tensor_t *a = run->inputs[0], *b = run->inputs[1];
    return binary_launch<OP, T, TO>(cuda, run, a->data, cv_cuda_value(run, 0), &a->shape,
                                    b->data, cv_cuda_value(run, 1), &b->shape, run->outputs[0],
                                    err);
}

/* FP32 binary ops: Add, Sub, Mul, Div, Pow, PRelu. */
template <int OP>
static cv_status float_binary_entry(cv_cuda_t *cuda, const cv_step_run_t *run,
                                    cv_cuda_op_fn self, cv_err_t *err)
{
    CV_ASSERT(run->ninputs >= 2 && run->noutputs >= 1);
    int64_t n = cv_shape_numel(&run->outputs[0]->shape);
    bool done;
    cv_status st = cv_cuda_enter(cuda, run, n, self, &done, err);
    if (done) return st;
    const cv_tensor_t *a = run->inputs[0], *b = run->inputs[1];
    if (a->dtype != CV_DTYPE_FP32) return cv_cuda_unsupported(run, a->dtype, err);
    if (b->dtype != CV_DTYPE_FP32)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                         "%s with a %s second input is not supported on CUDA",
                         cv_op_name(run->node->op), cv_dtype_name(b->dtype));
    return binary_step<OP, float, float>(cuda, run, err);
}

extern "C" cv_status cv_cuda_add(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return float_binary_entry<B_ADD>(cuda, run, cv_cuda_add, err);
}

extern "C" cv_status cv_cuda_sub(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return float_binary_entry<B_SUB>(cuda, run, cv_cuda_sub, err);
}

extern "C" cv_status cv_cuda_mul(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return float_binary_entry<B_MUL>(cuda, run, cv_cuda_mul, err);
}

extern "C" cv_status cv_cuda_div(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return float_binary_entry<B_DIV>(cuda, run, cv_cuda_div, err);
}

extern "C" cv_status cv_cuda_pow(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return float_binary_entry<B_POW>(cuda, run, cv_cuda_pow, err);
}

/* PRelu: y = x < 0 ? slope * x : x, the slope (often a tenant's weight)
 * broadcast to x. */
extern "C" cv_status cv_cuda_prelu(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return float_binary_entry<B_PRELU>(cuda, run, cv_cuda_prelu, err);
}

extern "C" cv_status cv_cuda_equal(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    CV_ASSERT(run->ninputs >= 2 && run->noutputs >= 1);
    bool done;
    cv_status st = cv_cuda_enter(cuda, run, cv_shape_numel(&run->outputs[0]->shape),
                                 cv_cuda_equal, &done, err);
    if (done) return st;
    cv_dtype_t dt = run->inputs[0]->dtype;
    CV_ASSERT(run->inputs[1]->dtype == dt && run->outputs[0]->dtype == CV_DTYPE_BOOL);
    switch (dt) {
    case CV_DTYPE_FP32: return binary_step<B_EQUAL, float, uint8_t>(cuda, run, err);
    case CV_DTYPE_INT64: return binary_step<B_EQUAL, int64_t, uint8_t>(cuda, run, err);
    case CV_DTYPE_INT32: return binary_step<B_EQUAL, int32_t, uint8_t>(cuda, run, err);
    case CV_DTYPE_BOOL: return binary_step<B_EQUAL_BOOL, uint8_t, uint8_t>(cuda, run, err);
    default: return cv_cuda_unsupported(run, dt, err);
    }
}

/* ---- variadic: Min, Max, Sum, Mean ------------------------------------------ */

__global__ void divide_kernel(float *y, int64_t n, float count)
{
    CV_CUDA_GRID_LOOP(int64_t, i, 0, n) y[i] /= count;
}

/* out = OP(...OP(OP(in0, in1), in2)..., inN-1), accumulating in place like
 * the CPU (same order of operations); Mean then divides by the count. */
template <int OP>
static cv_status variadic_entry(cv_cuda_t *cuda, const cv_step_run_t *run, bool mean,
                                cv_cuda_op_fn self, cv_err_t *err)
{
    CV_ASSERT(run->ninputs >= 1 && run->noutputs >= 1);
    cv_tensor_t *out = run->outputs[0];
    int64_t n = cv_shape_numel(&out->shape);
    bool done;
    cv_status st = cv_cuda_enter(cuda, run, n, self, &done, err);
    if (done) return st;
    for (int k = 0; k < run->ninputs; k++) {
        const cv_tensor_t *x = run->inputs[k];
        CV_ASSERT(x);
        if (x->dtype != CV_DTYPE_FP32) return cv_cuda_unsupported(run, x->dtype, err);
    }
    const cv_tensor_t *first = run->inputs[0];
    if (run->ninputs == 1) {
        CV_ASSERT(cv_shape_equal(&out->shape, &first->shape));
        st = cv_cuda_copy(cuda, out->data, first->data, cv_tensor_nbytes(out), err);
    } else {
        const cv_tensor_t *second = run->inputs[1];
        st = binary_launch<OP, float, float>(cuda, run, first->data, cv_cuda_value(run, 0),
                                             &first->shape, second->data, cv_cuda_value(run, 1),
                                             &second->shape, out, err);
    }
    for (int k = 2; k < run->ninputs && st == CV_STATUS_OK; k++) {
        const cv_tensor_t *x = run->inputs[k];
        st = binary_launch<OP, float, float>(cuda, run, out->data, -1, &out->shape, x->data,
                                             cv_cuda_value(run, k), &x->shape, out, err);
    }
    if (st != CV_STATUS_OK || !mean || n == 0) return st;
    divide_kernel<<<cv_cuda_blocks(n), CV_CUDA_THREADS, 0, cuda->stream>>>(
        (float *)out->data, n, (float)run->ninputs);
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_min(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return variadic_entry<B_MIN>(cuda, run, false, cv_cuda_min, err);
}

extern "C" cv_status cv_cuda_max(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return variadic_entry<B_MAX>(cuda, run, false, cv_cuda_max, err);
}

extern "C" cv_status cv_cuda_sum(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return variadic_entry<B_ADD>(cuda, run, false, cv_cuda_sum, err);
}

extern "C" cv_status cv_cuda_mean(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    return variadic_entry<B_ADD>(cuda, run, true, cv_cuda_mean, err);
}

/* ---- Where ------------------------------------------------------------------ */

/* Where moves elements without reading them: E is an unsigned type of the
 * element's size. Slots: condition (BOOL), X, Y. */
template <class E, class I, int N>
__global__ void where_simple_kernel(E *out, const __grid_constant__ cv_slice_table<N> t,
                                    const cv_operand_map<I> mc, const cv_operand_map<I> mx,
                                    const cv_operand_map<I> my)
{
    const int s = blockIdx.y;
    const uint8_t *c = (const uint8_t *)t.operand(s, 0);
    const E *x = (const E *)t.operand(s, 1), *y = (const E *)t.operand(s, 2);
    CV_CUDA_GRID_LOOP(I, i, t.begin[s], t.end[s])
    out[i] = c[mc.at(i)] ? x[mx.at(i)] : y[my.at(i)];
}

template <class E, class I, int N>
__global__ void where_general_kernel(E *out, const __grid_constant__ cv_slice_table<N> t,
                                     const __grid_constant__ bcast_dev<I> bc)
{
    const int s = blockIdx.y;
    const uint8_t *c = (const uint8_t *)t.operand(s, 0);
    const E *x = (const E *)t.operand(s, 1), *y = (const E *)t.operand(s, 2);
    CV_CUDA_GRID_LOOP(I, i, t.begin[s], t.end[s])
    {
        I off[3];
        bcast_offsets<3>(bc, i, off);
        out[i] = c[off[0]] ? x[off[1]] : y[off[2]];
    }
}

template <class E, class I, int N>
static cv_status where_go(cudaStream_t stream, const cv_broadcast_t *bc, const cv_slice_table<N> &t,
                          int ns, void *out, cv_err_t *err)
{
    dim3 grid(cv_cuda_blocks(cv_cuda_table_span(t, ns)), ns);
    cv_operand_map<I> m[3];
    if (cv_operand_simple(bc, 0, &m[0]) && cv_operand_simple(bc, 1, &m[1]) &&
        cv_operand_simple(bc, 2, &m[2])) {
        where_simple_kernel<E, I, N>
            <<<grid, CV_CUDA_THREADS, 0, stream>>>((E *)out, t, m[0], m[1], m[2]);
    } else {
        where_general_kernel<E, I, N>
            <<<grid, CV_CUDA_THREADS, 0, stream>>>((E *)out, t, bcast_to_dev<I>(bc));
    }
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

template <class E, int N>
static cv_status where_sized(cudaStream_t stream, int64_t n, const cv_broadcast_t *bc,
                             const cv_slice_table<N> &t, int ns, void *out, cv_err_t *err)
{
    if (n < CV_CUDA_SMALL_INDEX) return where_go<E, int32_t>(stream, bc, t, ns, out, err);
    return where_go<E, int64_t>(stream, bc, t, ns, out, err);
}

extern "C" cv_status cv_cuda_where(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    CV_ASSERT(run->ninputs >= 3 && run->noutputs >= 1);
    cv_tensor_t *out = run->outputs[0];
    int64_t n = cv_shape_numel(&out->shape);
    bool done;
    cv_status st = cv_cuda_enter(cuda, run, n, cv_cuda_where, &done, err);
    if (done) return st;
    const cv_tensor_t *c = run->inputs[0], *x = run->inputs[1], *y = run->inputs[2];
    if (c->dtype != CV_DTYPE_BOOL) return cv_cuda_unsupported(run, c->dtype, err);
    CV_ASSERT(x->dtype == y->dtype && out->dtype == x->dtype);
    size_t es = cv_dtype_size(x->dtype);
    if (es != 1 && es != 2 && es != 4 && es != 8) return cv_cuda_unsupported(run, x->dtype, err);
    if (n == 0) return CV_STATUS_OK;
    const cv_shape_t *shapes[3] = {&c->shape, &x->shape, &y->shape};
    cv_broadcast_t bc;
    cv_broadcast_collapse(shapes, 3, &out->shape, &bc);
    const int values[3] = {cv_cuda_value(run, 0), cv_cuda_value(run, 1), cv_cuda_value(run, 2)};
    const void *bases[3] = {c->data, x->data, y->data};
    cudaStream_t stream = cuda->stream;
    void *o = out->data;
    auto launch = [&](const auto &t, int ns) -> cv_status {
        switch (es) {
        case 1: return where_sized<uint8_t>(stream, n, &bc, t, ns, o, err);
        case 2: return where_sized<uint16_t>(stream, n, &bc, t, ns, o, err);
        case 4: return where_sized<uint32_t>(stream, n, &bc, t, ns, o, err);
        default: return where_sized<uint64_t>(stream, n, &bc, t, ns, o, err);
        }
    };
    return cv_cuda_with_table(cuda, run, n, values, bases, 3, launch, err);
}

/* ---- Cast --------------------------------------------------------------------- */

/* Float to integer as the CPU's float_to_int_bits: truncation toward zero,
 * NaN reads 0, values outside int64 saturate; narrower integers keep the
 * low bits. */
__device__ __forceinline__ int64_t float_to_i64(float f)
{
    if (f != f) return 0;
    if (f >= 9223372036854775808.0f) return INT64_MAX;
    if (f <= -9223372036854775808.0f) return INT64_MIN;
    return (int64_t)f;
}

/* Every value as float (for FP32 and FP16 targets), as int64 bits (for
 * integer targets) and as truth (for BOOL). */
__device__ __forceinline__ float cast_to_float(float v) { return v; }
__device__ __forceinline__ float cast_to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float cast_to_float(int64_t v) { return __ll2float_rn((long long)v); }
__device__ __forceinline__ float cast_to_float(int32_t v) { return __int2float_rn(v); }
__device__ __forceinline__ float cast_to_float(uint8_t v) { return v ? 1.0f : 0.0f; }

__device__ __forceinline__ int64_t cast_to_int(float v) { return float_to_i64(v); }
__device__ __forceinline__ int64_t cast_to_int(__half v) { return float_to_i64(__half2float(v)); }
__device__ __forceinline__ int64_t cast_to_int(int64_t v) { return v; }
__device__ __forceinline__ int64_t cast_to_int(int32_t v) { return v; }
__device__ __forceinline__ int64_t cast_to_int(uint8_t v) { return v ? 1 : 0; }

__device__ __forceinline__ bool cast_to_bool(float v) { return v != 0.0f; }
__device__ __forceinline__ bool cast_to_bool(__half v) { return __half2float(v) != 0.0f; }
__device__ __forceinline__ bool cast_to_bool(int64_t v) { return v != 0; }
__device__ __forceinline__ bool cast_to_bool(int32_t v) { return v != 0; }
__device__ __forceinline__ bool cast_to_bool(uint8_t v) { return v != 0; }

/* Integers round once, straight to half (no detour through float). */
__device__ __forceinline__ __half cast_to_half(float v) { return __float2half_rn(v); }
__device__ __forceinline__ __half cast_to_half(__half v) { return v; }
__device__ __forceinline__ __half cast_to_half(int64_t v) { return __ll2half_rn((long long)v); }
__device__ __forceinline__ __half cast_to_half(int32_t v) { return __int2half_rn(v); }
__device__ __forceinline__ __half cast_to_half(uint8_t v)
{
    return __float2half_rn(v ? 1.0f : 0.0f);
}

template <class From, class To> __device__ __forceinline__ To cast_one(From v)
{
    if constexpr (std::is_same<To, float>::value) return cast_to_float(v);
    else if constexpr (std::is_same<To, __half>::value) return cast_to_half(v);
    else if constexpr (std::is_same<To, uint8_t>::value) return cast_to_bool(v) ? 1 : 0;
    else return (To)(uint64_t)cast_to_int(v);
}

template <class From, class To>
__global__ void cast_kernel(const From *__restrict__ x, To *__restrict__ y, int64_t n)
{
    CV_CUDA_GRID_LOOP(int64_t, i, 0, n) y[i] = cast_one<From, To>(x[i]);
}

template <class From, class To>
static cv_status cast_launch(cudaStream_t stream, const void *x, void *y, int64_t n, cv_err_t *err)
{
    cast_kernel<From, To><<<cv_cuda_blocks(n), CV_CUDA_THREADS, 0, stream>>>((const From *)x,
                                                                             (To *)y, n);
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

template <class From>
static cv_status cast_from(cudaStream_t stream, cv_dtype_t to, const void *x, void *y, int64_t n,
                           cv_err_t *err)
{
    switch (to) {
    case CV_DTYPE_FP32: return cast_launch<From, float>(stream, x, y, n, err);
    case CV_DTYPE_FP16: return cast_launch<From, __half>(stream, x, y, n, err);
    case CV_DTYPE_INT64: return cast_launch<From, int64_t>(stream, x, y, n, err);
    case CV_DTYPE_INT32: return cast_launch<From, int32_t>(stream, x, y, n, err);
    default: return cast_launch<From, uint8_t>(stream, x, y, n, err); /* BOOL */
    }
}

static bool cast_dtype_ok(cv_dtype_t dt)
{
    return dt == CV_DTYPE_FP32 || dt == CV_DTYPE_FP16 || dt == CV_DTYPE_INT64 ||
           dt == CV_DTYPE_INT32 || dt == CV_DTYPE_BOOL;
}

extern "C" cv_status cv_cuda_cast(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    bool done;
    cv_status st = cv_cuda_enter(cuda, run, -1, cv_cuda_cast, &done, err);
    if (done) return st;
    const cv_tensor_t *x = run->inputs[0];
    cv_tensor_t *y = run->outputs[0];
    int64_t n = cv_shape_numel(&x->shape);
    CV_ASSERT(cv_shape_numel(&y->shape) == n);
    cv_dtype_t from = x->dtype, to = y->dtype;
    if (!cast_dtype_ok(from)) return cv_cuda_unsupported(run, from, err);
    if (!cast_dtype_ok(to))
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "Cast to %s is not supported on CUDA",
                         cv_dtype_name(to));
    if (from == to) return cv_cuda_copy(cuda, y->data, x->data, cv_tensor_nbytes(x), err);
    if (n == 0) return CV_STATUS_OK;
    switch (from) {
    case CV_DTYPE_FP32: return cast_from<float>(cuda->stream, to, x->data, y->data, n, err);
    case CV_DTYPE_FP16: return cast_from<__half>(cuda->stream, to, x->data, y->data, n, err);
    case CV_DTYPE_INT64: return cast_from<int64_t>(cuda->stream, to, x->data, y->data, n, err);
    case CV_DTYPE_INT32: return cast_from<int32_t>(cuda->stream, to, x->data, y->data, n, err);
    default: return cast_from<uint8_t>(cuda->stream, to, x->data, y->data, n, err);
    }
}
