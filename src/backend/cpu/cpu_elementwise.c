/*
 * cpu_elementwise.c: CPU kernels of the elementwise ops (activations, unary
 * math, broadcasting arithmetic, Min/Max/Sum/Mean, Equal, Where, Cast).
 *
 * Broadcasting goes through one iterator over the collapsed output that
 * src/backend/broadcast.c computes for both backends (the innermost run of
 * each operand has a step of 1 or 0). A row function then handles one run
 * with plain loops, which is what makes the common FP32 cases fast: same
 * shapes become one run over the whole tensor, [N,C,H,W] with [C,1,1]
 * becomes N*C runs of H*W against a scalar, [.., W] with [W] becomes runs
 * of W against a vector.
 *
 * Every op has row functions per dtype, generated from one expression per
 * op and dtype family. FP16 and BF16 compute in float. Integer arithmetic
 * is exact and wraps like two's complement (it runs in unsigned types, so
 * it has no undefined overflow); integer division truncates toward zero and
 * x / 0 reads 0 instead of trapping. Pow with mixed dtypes and Cast go
 * through a slower per-element path that keeps 64-bit integers exact.
 *
 * Ops of more than ELEMENTWISE_MIN_PARALLEL elements are cut into ranges
 * of output elements over the CPU context's thread pool.
 *
 * Not here: the dtypes shape inference refuses (src/ir/infer_elementwise.c
 * keeps the two in step).
 */
#include "backend/broadcast.h"
#include "backend/cpu/cpu.h"
#include "ir/infer.h"

#include <string.h>
#include <tgmath.h>

/* The build's -O2 lets GCC vectorize only loops whose trip count is a known
 * multiple of the vector width, which none of these are; the memory-bound
 * FP32 loops (Add, Mul, Relu, Clip) run 2-6x faster vectorized. Without
 * trapping math GCC may also if-convert selects feeding arithmetic
 * (HardSwish, LeakyRelu, PRelu); results are unchanged, only FP exception
 * flags are not kept. Clang vectorizes at -O2 already. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", "no-trapping-math")
#endif

/* ---- broadcast iteration ------------------------------------------------ */

#define MAX_OPERANDS CV_BROADCAST_OPERANDS

/* Handles one run of n output elements: in[k] points at operand k's first
 * element and advances by step[k] (0 or 1) elements per output element. */
typedef void (*row_fn)(void *out, const char *const *in, const int64_t *step, int64_t n,
                       const void *ctx);

/* Calls fn on every innermost run of `out` that overlaps the output
 * elements [e0, e1) (cut to them), walking the outer dims with an odometer.
 * Operand k has element size esize[k]. */
static void bcast_run(const cv_broadcast_t *bc, cv_tensor_t *out, const void *const *in,
                      const size_t *esize, row_fn fn, const void *ctx, int64_t e0, int64_t e1)
{
    if (e1 <= e0) return;
    int nd = bc->ndim;
    int64_t inner = bc->dims[nd - 1];
    size_t out_size = cv_dtype_size(out->dtype);
    int64_t idx[CV_MAX_DIMS] = {0};
    int64_t off[MAX_OPERANDS] = {0};
    int64_t step[MAX_OPERANDS];
    for (int k = 0; k < bc->nin; k++) step[k] = bc->strides[k][nd - 1];
    /* The odometer at the run holding e0. */
    int64_t rest = e0 / inner, col = e0 % inner;
    for (int d = nd - 2; d >= 0; d--) {
        idx[d] = rest % bc->dims[d];
        rest /= bc->dims[d];
        for (int k = 0; k < bc->nin; k++) off[k] += idx[d] * bc->strides[k][d];
    }
    for (int64_t e = e0; e < e1;) {
        int64_t len = CV_MIN(inner - col, e1 - e);
        const char *p[MAX_OPERANDS];
        for (int k = 0; k < bc->nin; k++)
            p[k] = (const char *)in[k] + (off[k] + col * step[k]) * (int64_t)esize[k];
        fn((char *)out->data + (size_t)e * out_size, p, step, len, ctx);
        e += len;
        col = 0;
        for (int d = nd - 2; d >= 0; d--) {
            for (int k = 0; k < bc->nin; k++) off[k] += bc->strides[k][d];
            if (++idx[d] < bc->dims[d]) break;
            for (int k = 0; k < bc->nin; k++) off[k] -= bc->strides[k][d] * bc->dims[d];
            idx[d] = 0;
        }
    }
}

/* ---- splitting over the pool ---------------------------------------------
 * Large ops are cut into ranges of output elements, one task each; every
 * element is computed as it would be in one pass, so results do not depend
 * on the split. Below ELEMENTWISE_MIN_PARALLEL elements one thread is
 * faster than the hand-off. */
#define ELEMENTWISE_MIN_PARALLEL (1 << 16)
#define ELEMENTWISE_TASKS_PER_THREAD 2
/* Ranges start at multiples of this many elements (whole cache lines for
 * every dtype). */
#define ELEMENTWISE_ALIGN 64

static cv_pool_t *elementwise_pool(const cv_op_args_t *args)
{
    return args->cpu ? args->cpu->pool : NULL;
}

static int64_t elementwise_tasks(cv_pool_t *pool, int64_t n)
{
    int threads = cv_pool_threads(pool);
    if (threads <= 1 || n < ELEMENTWISE_MIN_PARALLEL) return 1;
    return (int64_t)threads * ELEMENTWISE_TASKS_PER_THREAD;
}

typedef struct bcast_job {
    const cv_broadcast_t *bc;
    cv_tensor_t *out;
    const void *const *in;
    const size_t *esize;
    row_fn fn;
    const void *ctx;
    int64_t total, ntasks;
} bcast_job_t;

static void bcast_task(void *ctx, int64_t t, int thread)
{
    const bcast_job_t *j = ctx;
    int64_t e0, e1;
    cv_pool_range(j->total, j->ntasks, ELEMENTWISE_ALIGN, t, &e0, &e1);
    bcast_run(j->bc, j->out, j->in, j->esize, j->fn, j->ctx, e0, e1);
}

/* Runs fn over `out` with operands ins[0..nin) broadcast to its shape. */
static void bcast_apply(cv_pool_t *pool, cv_tensor_t *out, const cv_tensor_t *const *ins, int nin,
                        row_fn fn, const void *ctx)
{
    CV_ASSERT(nin >= 1 && nin <= MAX_OPERANDS);
    const cv_shape_t *shapes[MAX_OPERANDS];
    const void *data[MAX_OPERANDS];
    size_t esize[MAX_OPERANDS];
    for (int k = 0; k < nin; k++) {
        shapes[k] = &ins[k]->shape;
        data[k] = ins[k]->data;
        esize[k] = cv_dtype_size(ins[k]->dtype);
    }
    cv_broadcast_t bc;
    cv_broadcast_collapse(shapes, nin, &out->shape, &bc);
    int64_t total = cv_shape_numel(&out->shape);
    bcast_job_t j = {.bc = &bc, .out = out, .in = data, .esize = esize, .fn = fn, .ctx = ctx,
                     .total = total, .ntasks = elementwise_tasks(pool, total)};
    cv_pool_run(pool, j.ntasks, bcast_task, &j);
}

static const char *op_name(const cv_op_args_t *args)
{
    return args->node ? cv_op_name(args->node->op) : "op";
}

static cv_status unsupported(const cv_op_args_t *args, cv_dtype_t dtype, cv_err_t *err)
{
    return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s on %s is not supported", op_name(args),
                     cv_dtype_name(dtype));
}

static float attr_float(const cv_op_args_t *args, const char *name, float dflt)
{
    return args->node ? cv_node_attr_float(args->node, name, dflt) : dflt;
}

/* ---- dtype families ------------------------------------------------------
 * X(suffix, dtype, C type, unsigned type wide enough for exact wrapping). */
#define SINT_TYPES(X)                                                                    \
    X(i8, INT8, int8_t, uint32_t)                                                        \
    X(i16, INT16, int16_t, uint32_t)                                                     \
    X(i32, INT32, int32_t, uint32_t)                                                     \
    X(i64, INT64, int64_t, uint64_t)
#define UINT_TYPES(X)                                                                    \
    X(u8, UINT8, uint8_t, uint32_t)                                                      \
    X(u16, UINT16, uint16_t, uint32_t)                                                   \
    X(u32, UINT32, uint32_t, uint32_t)                                                   \
    X(u64, UINT64, uint64_t, uint64_t)
#define INT_TYPES(X) SINT_TYPES(X) UINT_TYPES(X)

#define IDENT(v) (v)
#define TO_BOOL(v) ((uint8_t)((v) ? 1 : 0))

/* A row function computing OUT_T out = STORE(OP(a, b, T, WU)) with a and b
 * loaded from T through LOAD into CT. Steps are 0 or 1; the four cases keep
 * each loop free of multiplies so the compiler vectorizes them. */
#define DEF_BINARY(NAME, T, WU, CT, OUT_T, LOAD, STORE, OP)                              \
    static void NAME(void *out, const char *const *in, const int64_t *step, int64_t n,   \
                     const void *ctx)                                                    \
    {                                                                                    \
        (void)ctx;                                                                       \
        const T *A = (const T *)in[0], *B = (const T *)in[1];                            \
        OUT_T *C = out;                                                                  \
        if (step[0] && step[1]) {                                                        \
            for (int64_t i = 0; i < n; i++) {                                            \
                const CT a = LOAD(A[i]), b = LOAD(B[i]);                                 \
                C[i] = STORE(OP(a, b, T, WU));                                           \
            }                                                                            \
        } else if (step[0]) {                                                            \
            const CT b = LOAD(B[0]);                                                     \
            for (int64_t i = 0; i < n; i++) {                                            \
                const CT a = LOAD(A[i]);                                                 \
                C[i] = STORE(OP(a, b, T, WU));                                           \
            }                                                                            \
        } else if (step[1]) {                                                            \
            const CT a = LOAD(A[0]);                                                     \
            for (int64_t i = 0; i < n; i++) {                                            \
                const CT b = LOAD(B[i]);                                                 \
                C[i] = STORE(OP(a, b, T, WU));                                           \
            }                                                                            \
        } else {                                                                         \
            const CT a = LOAD(A[0]), b = LOAD(B[0]);                                     \
            const OUT_T r = STORE(OP(a, b, T, WU));                                      \
            for (int64_t i = 0; i < n; i++) C[i] = r;                                    \
        }                                                                                \
    }

/* An op over the four float dtypes, result of the input dtype. */
#define DEF_BINARY_FLOATS(op, OP)                                                        \
    DEF_BINARY(op##_f32, float, float, float, float, IDENT, IDENT, OP)                   \
    DEF_BINARY(op##_f64, double, double, double, double, IDENT, IDENT, OP)               \
    DEF_BINARY(op##_f16, uint16_t, float, float, uint16_t, cv_fp16_to_fp32,              \
               cv_fp32_to_fp16, OP)                                                      \
    DEF_BINARY(op##_bf16, uint16_t, float, float, uint16_t, cv_bf16_to_fp32,             \
               cv_fp32_to_bf16, OP)
/* The same with a BOOL result (comparisons). */
#define DEF_COMPARE_FLOATS(op, OP)                                                       \
    DEF_BINARY(op##_f32, float, float, float, uint8_t, IDENT, TO_BOOL, OP)               \
    DEF_BINARY(op##_f64, double, double, double, uint8_t, IDENT, TO_BOOL, OP)            \
    DEF_BINARY(op##_f16, uint16_t, float, float, uint8_t, cv_fp16_to_fp32, TO_BOOL, OP)  \
    DEF_BINARY(op##_bf16, uint16_t, float, float, uint8_t, cv_bf16_to_fp32, TO_BOOL, OP)

#define TABLE_FLOATS(op)                                                                 \
    [CV_DTYPE_FP32] = op##_f32, [CV_DTYPE_FP64] = op##_f64, [CV_DTYPE_FP16] = op##_f16,  \
    [CV_DTYPE_BF16] = op##_bf16
#define TABLE_ENTRY(sfx, DT, T, WU) [CV_DTYPE_##DT] = OPNAME(sfx),

#define DTYPE_SLOTS (CV_DTYPE_BF16 + 1)

/* Expressions: (a, b, T, WU) -> value. Integer ones run in WU to wrap. */
#define OP_ADD_F(a, b, T, WU) ((a) + (b))
#define OP_SUB_F(a, b, T, WU) ((a) - (b))
#define OP_MUL_F(a, b, T, WU) ((a) * (b))
#define OP_DIV_F(a, b, T, WU) ((a) / (b))
#define OP_ADD_I(a, b, T, WU) ((T)((WU)(a) + (WU)(b)))
#define OP_SUB_I(a, b, T, WU) ((T)((WU)(a) - (WU)(b)))
#define OP_MUL_I(a, b, T, WU) ((T)((WU)(a) * (WU)(b)))
/* x / 0 reads 0 and MIN / -1 wraps, where C would trap. */
#define OP_DIV_S(a, b, T, WU)                                                            \
    ((b) == 0 ? (T)0 : (b) == -1 ? (T)((WU)0 - (WU)(a)) : (T)((a) / (b)))
#define OP_DIV_U(a, b, T, WU) ((b) == 0 ? (T)0 : (T)((a) / (b)))
/* Min and Max propagate NaN from either side, like numpy. */
#define OP_MIN_F(a, b, T, WU) (((a) < (b) || (a) != (a)) ? (a) : (b))
#define OP_MAX_F(a, b, T, WU) (((a) > (b) || (a) != (a)) ? (a) : (b))
#define OP_MIN_I(a, b, T, WU) ((a) < (b) ? (a) : (b))
#define OP_MAX_I(a, b, T, WU) ((a) > (b) ? (a) : (b))
#define OP_PRELU_F(a, b, T, WU) ((a) < 0 ? (a) * (b) : (a))
#define OP_PRELU_S(a, b, T, WU) ((a) < 0 ? (T)((WU)(a) * (WU)(b)) : (a))
#define OP_FIRST(a, b, T, WU) ((void)(b), (a))
#define OP_EQUAL(a, b, T, WU) ((a) == (b))
#define OP_EQUAL_BOOL(a, b, T, WU) (!(a) == !(b))

/* Callbacks of the type lists: one integer row per dtype, named by GEN_NAME
 * and computing GEN_OP, which each block below defines around its use. */
#define GEN_INT(sfx, DT, T, WU) DEF_BINARY(GEN_NAME(sfx), T, WU, T, T, IDENT, IDENT, GEN_OP)
#define GEN_INT_CMP(sfx, DT, T, WU)                                                      \
    DEF_BINARY(GEN_NAME(sfx), T, WU, T, uint8_t, IDENT, TO_BOOL, GEN_OP)

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)

DEF_BINARY_FLOATS(add, OP_ADD_F)
DEF_BINARY_FLOATS(sub, OP_SUB_F)
DEF_BINARY_FLOATS(mul, OP_MUL_F)
DEF_BINARY_FLOATS(div, OP_DIV_F)
DEF_BINARY_FLOATS(min, OP_MIN_F)
DEF_BINARY_FLOATS(max, OP_MAX_F)
DEF_BINARY_FLOATS(prelu, OP_PRELU_F)
DEF_COMPARE_FLOATS(equal, OP_EQUAL)

#define GEN_NAME(sfx) CAT(add, sfx)
#define GEN_OP OP_ADD_I
INT_TYPES(GEN_INT)
#undef GEN_NAME
#undef GEN_OP
#define GEN_NAME(sfx) CAT(sub, sfx)
#define GEN_OP OP_SUB_I
INT_TYPES(GEN_INT)
#undef GEN_NAME
#undef GEN_OP
#define GEN_NAME(sfx) CAT(mul, sfx)
#define GEN_OP OP_MUL_I
INT_TYPES(GEN_INT)
#undef GEN_NAME
#undef GEN_OP
#define GEN_NAME(sfx) CAT(div, sfx)
#define GEN_OP OP_DIV_S
SINT_TYPES(GEN_INT)
#undef GEN_OP
#define GEN_OP OP_DIV_U
UINT_TYPES(GEN_INT)
#undef GEN_NAME
#undef GEN_OP
#define GEN_NAME(sfx) CAT(min, sfx)
#define GEN_OP OP_MIN_I
INT_TYPES(GEN_INT)
#undef GEN_NAME
#undef GEN_OP
#define GEN_NAME(sfx) CAT(max, sfx)
#define GEN_OP OP_MAX_I
INT_TYPES(GEN_INT)
#undef GEN_NAME
#undef GEN_OP
#define GEN_NAME(sfx) CAT(prelu, sfx)
#define GEN_OP OP_PRELU_S
SINT_TYPES(GEN_INT)
#undef GEN_OP
#define GEN_OP OP_FIRST
UINT_TYPES(GEN_INT)
#undef GEN_NAME
#undef GEN_OP
#define GEN_NAME(sfx) CAT(equal, sfx)
#define GEN_OP OP_EQUAL
INT_TYPES(GEN_INT_CMP)
#undef GEN_NAME
#undef GEN_OP
DEF_BINARY(equal_bool, uint8_t, uint32_t, uint8_t, uint8_t, IDENT, TO_BOOL, OP_EQUAL_BOOL)

#define OPNAME(sfx) CAT(add, sfx)
static const row_fn add_rows[DTYPE_SLOTS] = {TABLE_FLOATS(add), INT_TYPES(TABLE_ENTRY)};
#undef OPNAME
#define OPNAME(sfx) CAT(sub, sfx)
static const row_fn sub_rows[DTYPE_SLOTS] = {TABLE_FLOATS(sub), INT_TYPES(TABLE_ENTRY)};
#undef OPNAME
#define OPNAME(sfx) CAT(mul, sfx)
static const row_fn mul_rows[DTYPE_SLOTS] = {TABLE_FLOATS(mul), INT_TYPES(TABLE_ENTRY)};
#undef OPNAME
#define OPNAME(sfx) CAT(div, sfx)
static const row_fn div_rows[DTYPE_SLOTS] = {TABLE_FLOATS(div), INT_TYPES(TABLE_ENTRY)};
#undef OPNAME
#define OPNAME(sfx) CAT(min, sfx)
static const row_fn min_rows[DTYPE_SLOTS] = {TABLE_FLOATS(min), INT_TYPES(TABLE_ENTRY)};
#undef OPNAME
#define OPNAME(sfx) CAT(max, sfx)
static const row_fn max_rows[DTYPE_SLOTS] = {TABLE_FLOATS(max), INT_TYPES(TABLE_ENTRY)};
#undef OPNAME
#define OPNAME(sfx) CAT(prelu, sfx)
static const row_fn prelu_rows[DTYPE_SLOTS] = {TABLE_FLOATS(prelu), INT_TYPES(TABLE_ENTRY)};
#undef OPNAME
#define OPNAME(sfx) CAT(equal, sfx)
static const row_fn equal_rows[DTYPE_SLOTS] = {TABLE_FLOATS(equal), INT_TYPES(TABLE_ENTRY)
                                                   [CV_DTYPE_BOOL] = equal_bool};
#undef OPNAME

static row_fn row_for(const row_fn *table, cv_dtype_t dtype)
{
    return (dtype > 0 && dtype < DTYPE_SLOTS) ? table[dtype] : NULL;
}

/* out = op(inputs[0], inputs[1]) with numpy broadcasting. */
static cv_status run_binary(const cv_op_args_t *args, const row_fn *table, cv_err_t *err)
{
    CV_ASSERT(args->ninputs >= 2 && args->noutputs >= 1);
    const cv_tensor_t *ins[2] = {args->inputs[0], args->inputs[1]};
    row_fn fn = row_for(table, ins[0]->dtype);
    if (!fn) return unsupported(args, ins[0]->dtype, err);
    CV_ASSERT(ins[1]->dtype == ins[0]->dtype);
    bcast_apply(elementwise_pool(args), args->outputs[0], ins, 2, fn, NULL);
    return CV_STATUS_OK;
}

/* out = op(...op(op(in0, in1), in2)..., inN-1); the output accumulates in
 * place, which the row functions allow (each reads element i before it
 * writes element i). */
static cv_status run_variadic(const cv_op_args_t *args, const row_fn *table, cv_err_t *err)
{
    CV_ASSERT(args->ninputs >= 1 && args->noutputs >= 1);
    cv_tensor_t *out = args->outputs[0];
    const cv_tensor_t *first = args->inputs[0];
    row_fn fn = row_for(table, first->dtype);
    if (!fn) return unsupported(args, first->dtype, err);
    if (args->ninputs == 1) {
        CV_ASSERT(cv_shape_equal(&out->shape, &first->shape));
        memcpy(out->data, first->data, cv_tensor_nbytes(out));
        return CV_STATUS_OK;
    }
    const cv_tensor_t *ins[2] = {first, args->inputs[1]};
    bcast_apply(elementwise_pool(args), out, ins, 2, fn, NULL);
    cv_tensor_t acc = *out;
    for (int k = 2; k < args->ninputs; k++) {
        CV_ASSERT(args->inputs[k]->dtype == first->dtype);
        const cv_tensor_t *pair[2] = {&acc, args->inputs[k]};
        bcast_apply(elementwise_pool(args), out, pair, 2, fn, NULL);
    }
    return CV_STATUS_OK;
}

/* ---- unary ops -------------------------------------------------------------- */

/* Attributes and bounds of a unary op, read once per call. */
typedef struct unary_params {
    double alpha, beta, gamma;
    double lo, hi;               /* Clip bounds for float dtypes (infinite when absent) */
    const void *lo_ptr, *hi_ptr; /* Clip bounds for integer dtypes, NULL when absent */
} unary_params_t;

typedef void (*unary_fn)(const void *in, void *out, int64_t n, const unary_params_t *p);

/* A unary row over a float type T: y = OP(x, T), with the attributes
 * converted to T once, as locals alpha, beta, gamma, lo, hi that OP may use. */
#define DEF_UNARY_FLOAT(NAME, T, OP)                                                     \
    static void NAME(const void *in, void *out, int64_t n, const unary_params_t *p)     \
    {                                                                                    \
        const T *X = in;                                                                 \
        T *Y = out;                                                                      \
        const T alpha = (T)p->alpha, beta = (T)p->beta, gamma = (T)p->gamma;             \
        const T lo = (T)p->lo, hi = (T)p->hi;                                            \
        (void)alpha, (void)beta, (void)gamma, (void)lo, (void)hi;                        \
        for (int64_t i = 0; i < n; i++) {                                                \
            const T x = X[i];                                                            \
            Y[i] = OP(x, T);                                                             \
        }                                                                                \
    }
#define DEF_UNARY_FLOATS(op, OP)                                                         \
    DEF_UNARY_FLOAT(u_##op##_f32, float, OP)                                             \
    DEF_UNARY_FLOAT(u_##op##_f64, double, OP)

static inline float sigmoid_float(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + exp(-x));
    float e = exp(x);
    return e / (1.0f + e);
}

static inline double sigmoid_double(double x)
{
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* Selects written as two steps so that GCC if-converts and vectorizes them. */
static inline float clamp01_float(float v)
{
    float y = v < 0.0f ? 0.0f : v;
    return y > 1.0f ? 1.0f : y;
}

static inline double clamp01_double(double v)
{
    double y = v < 0.0 ? 0.0 : v;
    return y > 1.0 ? 1.0 : y;
}

static inline float hard_swish_float(float x)
{
    float v = clamp01_float(x * (1.0f / 6.0f) + 0.5f);
    return x * v;
}

static inline double hard_swish_double(double x)
{
    double v = clamp01_double(x * (1.0 / 6.0) + 0.5);
    return x * v;
}

/* max(x, lo) then min(., hi): with lo > hi every value becomes hi, as the
 * spec's composition says; NaN passes through. */
static inline float clip_float(float x, float lo, float hi)
{
    float y = x < lo ? lo : x;
    return y > hi ? hi : y;
}

static inline double clip_double(double x, double lo, double hi)
{
    double y = x < lo ? lo : x;
    return y > hi ? hi : y;
}

#define CLAMP01(v, T) CAT(clamp01, T)(v)
#define U_RELU(x, T) ((x) < (T)0 ? (T)0 : (x))
#define U_LEAKY_RELU(x, T) ((x) < (T)0 ? alpha * (x) : (x))
#define U_ELU(x, T) ((x) < (T)0 ? alpha * expm1(x) : (x))
#define U_SELU(x, T) ((x) <= (T)0 ? gamma * (alpha * expm1(x)) : gamma * (x))
#define U_SIGMOID(x, T) CAT(sigmoid, T)(x)
#define U_HARD_SIGMOID(x, T) CLAMP01(alpha * (x) + beta, T)
#define U_HARD_SWISH(x, T) CAT(hard_swish, T)(x)
#define U_TANH(x, T) tanh(x)
#define U_ERF(x, T) erf(x)
#define U_GELU(x, T) ((T)0.5 * (x) * ((T)1 + erf((x) * (T)M_SQRT1_2)))
#define U_GELU_TANH(x, T)                                                                \
    ((T)0.5 * (x) *                                                                      \
     ((T)1 + tanh((T)0.79788456080286535588 * ((x) + (T)0.044715 * (x) * (x) * (x)))))
#define U_SOFTPLUS(x, T) ((x) > (T)0 ? (x) + log1p(exp(-(x))) : log1p(exp(x)))
#define U_SQRT(x, T) sqrt(x)
#define U_EXP(x, T) exp(x)
#define U_LOG(x, T) log(x)
#define U_NEG(x, T) (-(x))
#define U_ABS(x, T) fabs(x)
#define U_CLIP(x, T) CAT(clip, T)(x, lo, hi)

DEF_UNARY_FLOATS(relu, U_RELU)
DEF_UNARY_FLOATS(leaky_relu, U_LEAKY_RELU)
DEF_UNARY_FLOATS(elu, U_ELU)
DEF_UNARY_FLOATS(selu, U_SELU)
DEF_UNARY_FLOATS(sigmoid, U_SIGMOID)
DEF_UNARY_FLOATS(hard_sigmoid, U_HARD_SIGMOID)
DEF_UNARY_FLOATS(hard_swish, U_HARD_SWISH)
DEF_UNARY_FLOATS(tanh, U_TANH)
DEF_UNARY_FLOATS(erf, U_ERF)
DEF_UNARY_FLOATS(gelu, U_GELU)
DEF_UNARY_FLOATS(gelu_tanh, U_GELU_TANH)
DEF_UNARY_FLOATS(softplus, U_SOFTPLUS)
DEF_UNARY_FLOATS(sqrt, U_SQRT)
DEF_UNARY_FLOATS(exp, U_EXP)
DEF_UNARY_FLOATS(log, U_LOG)
DEF_UNARY_FLOATS(neg, U_NEG)
DEF_UNARY_FLOATS(abs, U_ABS)
DEF_UNARY_FLOATS(clip, U_CLIP)

/* Integer unary rows: OP(x, T, WU), negation wrapping through WU. */
#define DEF_UNARY_INT(NAME, T, WU, OP)                                                   \
    static void NAME(const void *in, void *out, int64_t n, const unary_params_t *p)     \
    {                                                                                    \
        (void)p;                                                                         \
        const T *X = in;                                                                 \
        T *Y = out;                                                                      \
        for (int64_t i = 0; i < n; i++) {                                                \
            const T x = X[i];                                                            \
            Y[i] = OP(x, T, WU);                                                         \
        }                                                                                \
    }
#define UI_RELU(x, T, WU) ((x) < 0 ? (T)0 : (x))
#define UI_NEG(x, T, WU) ((T)((WU)0 - (WU)(x)))
#define UI_ABS_S(x, T, WU) ((x) < 0 ? (T)((WU)0 - (WU)(x)) : (x))
#define UI_COPY(x, T, WU) (x)

#define GEN_UNARY_INT(sfx, DT, T, WU) DEF_UNARY_INT(GEN_NAME(sfx), T, WU, GEN_OP)
#define GEN_NAME(sfx) CAT(u_relu, sfx)
#define GEN_OP UI_RELU
SINT_TYPES(GEN_UNARY_INT)
#undef GEN_NAME
#undef GEN_OP
#define GEN_NAME(sfx) CAT(u_neg, sfx)
#define GEN_OP UI_NEG
SINT_TYPES(GEN_UNARY_INT)
#undef GEN_NAME
#undef GEN_OP
#define GEN_NAME(sfx) CAT(u_abs, sfx)
#define GEN_OP UI_ABS_S
SINT_TYPES(GEN_UNARY_INT)
#undef GEN_OP
#define GEN_OP UI_COPY
UINT_TYPES(GEN_UNARY_INT)
#undef GEN_NAME
#undef GEN_OP

/* Integer Clip: each bound applies only when given. */
#define DEF_CLIP_INT(sfx, DT, T, WU)                                                     \
    static void u_clip_##sfx(const void *in, void *out, int64_t n, const unary_params_t *p) \
    {                                                                                    \
        const T *X = in;                                                                 \
        T *Y = out;                                                                      \
        const bool has_lo = p->lo_ptr != NULL, has_hi = p->hi_ptr != NULL;               \
        const T lo = has_lo ? *(const T *)p->lo_ptr : 0;                                 \
        const T hi = has_hi ? *(const T *)p->hi_ptr : 0;                                 \
        for (int64_t i = 0; i < n; i++) {                                                \
            T y = X[i];                                                                  \
            if (has_lo && y < lo) y = lo;                                                \
            if (has_hi && y > hi) y = hi;                                                \
            Y[i] = y;                                                                    \
        }                                                                                \
    }
INT_TYPES(DEF_CLIP_INT)

#define UNARY_FLOATS(op) [CV_DTYPE_FP32] = u_##op##_f32, [CV_DTYPE_FP64] = u_##op##_f64
#define UNARY_TABLE_ENTRY(sfx, DT, T, WU) [CV_DTYPE_##DT] = OPNAME(sfx),

#define OPNAME(sfx) CAT(u_relu, sfx)
static const unary_fn relu_fns[DTYPE_SLOTS] = {UNARY_FLOATS(relu),
                                               SINT_TYPES(UNARY_TABLE_ENTRY)};
#undef OPNAME
#define OPNAME(sfx) CAT(u_neg, sfx)
static const unary_fn neg_fns[DTYPE_SLOTS] = {UNARY_FLOATS(neg), SINT_TYPES(UNARY_TABLE_ENTRY)};
#undef OPNAME
#define OPNAME(sfx) CAT(u_abs, sfx)
static const unary_fn abs_fns[DTYPE_SLOTS] = {UNARY_FLOATS(abs), INT_TYPES(UNARY_TABLE_ENTRY)};
#undef OPNAME
#define OPNAME(sfx) CAT(u_clip, sfx)
static const unary_fn clip_fns[DTYPE_SLOTS] = {UNARY_FLOATS(clip), INT_TYPES(UNARY_TABLE_ENTRY)};
#undef OPNAME

#define FLOAT_ONLY_TABLE(op)                                                             \
    static const unary_fn op##_fns[DTYPE_SLOTS] = {UNARY_FLOATS(op)};
FLOAT_ONLY_TABLE(leaky_relu)
FLOAT_ONLY_TABLE(elu)
FLOAT_ONLY_TABLE(selu)
FLOAT_ONLY_TABLE(sigmoid)
FLOAT_ONLY_TABLE(hard_sigmoid)
FLOAT_ONLY_TABLE(hard_swish)
FLOAT_ONLY_TABLE(tanh)
FLOAT_ONLY_TABLE(erf)
FLOAT_ONLY_TABLE(gelu)
FLOAT_ONLY_TABLE(gelu_tanh)
FLOAT_ONLY_TABLE(softplus)
FLOAT_ONLY_TABLE(sqrt)
FLOAT_ONLY_TABLE(exp)
FLOAT_ONLY_TABLE(log)

/* FP16 and BF16 run the FP32 row over blocks converted to float on the stack. */
static void unary_half(unary_fn f32, bool bf16, const uint16_t *in, uint16_t *out, int64_t n,
                       const unary_params_t *p)
{
    enum { BLOCK = 256 };
    float buf[BLOCK];
    for (int64_t start = 0; start < n; start += BLOCK) {
        int64_t m = CV_MIN((int64_t)BLOCK, n - start);
        for (int64_t j = 0; j < m; j++)
            buf[j] = bf16 ? cv_bf16_to_fp32(in[start + j]) : cv_fp16_to_fp32(in[start + j]);
        f32(buf, buf, m, p);
        for (int64_t j = 0; j < m; j++)
            out[start + j] = bf16 ? cv_fp32_to_bf16(buf[j]) : cv_fp32_to_fp16(buf[j]);
    }
}

typedef struct unary_job {
    unary_fn fn;  /* the FP32 row for FP16/BF16 */
    cv_dtype_t dtype;
    const char *x;
    char *y;
    const unary_params_t *p;
    int64_t n, ntasks;
} unary_job_t;

static void unary_task(void *ctx, int64_t t, int thread)
{
    const unary_job_t *j = ctx;
    int64_t e0, e1;
    cv_pool_range(j->n, j->ntasks, ELEMENTWISE_ALIGN, t, &e0, &e1);
    if (e1 <= e0) return;
    size_t es = cv_dtype_size(j->dtype);
    const char *x = j->x + (size_t)e0 * es;
    char *y = j->y + (size_t)e0 * es;
    if (j->dtype == CV_DTYPE_FP16 || j->dtype == CV_DTYPE_BF16)
        unary_half(j->fn, j->dtype == CV_DTYPE_BF16, (const uint16_t *)x, (uint16_t *)y, e1 - e0,
                   j->p);
    else
        j->fn(x, y, e1 - e0, j->p);
}

static cv_status run_unary(const cv_op_args_t *args, const unary_fn *table,
                           const unary_params_t *p, cv_err_t *err)
{
    CV_ASSERT(args->ninputs >= 1 && args->noutputs >= 1);
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0];
    int64_t n = cv_shape_numel(&x->shape);
    CV_ASSERT(cv_shape_numel(&y->shape) == n && y->dtype == x->dtype);
    bool half = x->dtype == CV_DTYPE_FP16 || x->dtype == CV_DTYPE_BF16;
    cv_dtype_t row_dtype = half ? CV_DTYPE_FP32 : x->dtype;
    unary_fn fn = (row_dtype > 0 && row_dtype < DTYPE_SLOTS) ? table[row_dtype] : NULL;
    if (!fn) return unsupported(args, x->dtype, err);
    cv_pool_t *pool = elementwise_pool(args);
    unary_job_t j = {.fn = fn, .dtype = x->dtype, .x = x->data, .y = y->data, .p = p, .n = n,
                     .ntasks = elementwise_tasks(pool, n)};
    cv_pool_run(pool, j.ntasks, unary_task, &j);
    return CV_STATUS_OK;
}

static cv_status run_unary_plain(const cv_op_args_t *args, const unary_fn *table, cv_err_t *err)
{
    unary_params_t p = {0};
    return run_unary(args, table, &p, err);
}

cv_status cv_cpu_relu(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, relu_fns, err);
}

cv_status cv_cpu_leaky_relu(const cv_op_args_t *args, cv_err_t *err)
{
    unary_params_t p = {.alpha = attr_float(args, "alpha", 0.01f)};
    return run_unary(args, leaky_relu_fns, &p, err);
}

cv_status cv_cpu_elu(const cv_op_args_t *args, cv_err_t *err)
{
    unary_params_t p = {.alpha = attr_float(args, "alpha", 1.0f)};
    return run_unary(args, elu_fns, &p, err);
}

cv_status cv_cpu_selu(const cv_op_args_t *args, cv_err_t *err)
{
    unary_params_t p = {.alpha = attr_float(args, "alpha", 1.67326319217681884765625f),
                        .gamma = attr_float(args, "gamma", 1.05070102214813232421875f)};
    return run_unary(args, selu_fns, &p, err);
}

cv_status cv_cpu_sigmoid(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, sigmoid_fns, err);
}

cv_status cv_cpu_hard_sigmoid(const cv_op_args_t *args, cv_err_t *err)
{
    unary_params_t p = {.alpha = attr_float(args, "alpha", 0.2f),
                        .beta = attr_float(args, "beta", 0.5f)};
    return run_unary(args, hard_sigmoid_fns, &p, err);
}

cv_status cv_cpu_hard_swish(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, hard_swish_fns, err);
}

cv_status cv_cpu_tanh(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, tanh_fns, err);
}

cv_status cv_cpu_erf(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, erf_fns, err);
}

cv_status cv_cpu_gelu(const cv_op_args_t *args, cv_err_t *err)
{
    const char *approx = args->node ? cv_node_attr_string(args->node, "approximate", "none")
                                    : "none";
    if (strcmp(approx, "tanh") == 0) return run_unary_plain(args, gelu_tanh_fns, err);
    if (strcmp(approx, "none") == 0) return run_unary_plain(args, gelu_fns, err);
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                     "attribute approximate is \"%s\", expected \"none\" or \"tanh\"", approx);
}

cv_status cv_cpu_softplus(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, softplus_fns, err);
}

cv_status cv_cpu_sqrt(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, sqrt_fns, err);
}

cv_status cv_cpu_exp(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, exp_fns, err);
}

cv_status cv_cpu_log(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, log_fns, err);
}

cv_status cv_cpu_neg(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, neg_fns, err);
}

cv_status cv_cpu_abs(const cv_op_args_t *args, cv_err_t *err)
{
    return run_unary_plain(args, abs_fns, err);
}

/* Clip(x, [min], [max]): an absent bound does not bound. */
cv_status cv_cpu_clip(const cv_op_args_t *args, cv_err_t *err)
{
    const cv_tensor_t *lo = args->ninputs > 1 ? args->inputs[1] : NULL;
    const cv_tensor_t *hi = args->ninputs > 2 ? args->inputs[2] : NULL;
    unary_params_t p = {.lo = -INFINITY, .hi = INFINITY};
    if (lo) {
        CV_ASSERT(lo->dtype == args->inputs[0]->dtype && cv_shape_numel(&lo->shape) == 1);
        p.lo_ptr = lo->data;
        if (cv_dtype_is_float(lo->dtype)) p.lo = cv_tensor_get_f64(lo, 0);
    }
    if (hi) {
        CV_ASSERT(hi->dtype == args->inputs[0]->dtype && cv_shape_numel(&hi->shape) == 1);
        p.hi_ptr = hi->data;
        if (cv_dtype_is_float(hi->dtype)) p.hi = cv_tensor_get_f64(hi, 0);
    }
    return run_unary(args, clip_fns, &p, err);
}

/* ---- broadcasting binary and variadic ops --------------------------------- */

cv_status cv_cpu_add(const cv_op_args_t *args, cv_err_t *err)
{
    return run_binary(args, add_rows, err);
}

cv_status cv_cpu_sub(const cv_op_args_t *args, cv_err_t *err)
{
    return run_binary(args, sub_rows, err);
}

cv_status cv_cpu_mul(const cv_op_args_t *args, cv_err_t *err)
{
    return run_binary(args, mul_rows, err);
}

cv_status cv_cpu_div(const cv_op_args_t *args, cv_err_t *err)
{
    return run_binary(args, div_rows, err);
}

/* PRelu: y = x < 0 ? slope * x : x, slope broadcast to x's shape. */
cv_status cv_cpu_prelu(const cv_op_args_t *args, cv_err_t *err)
{
    return run_binary(args, prelu_rows, err);
}

cv_status cv_cpu_equal(const cv_op_args_t *args, cv_err_t *err)
{
    return run_binary(args, equal_rows, err);
}

cv_status cv_cpu_min(const cv_op_args_t *args, cv_err_t *err)
{
    return run_variadic(args, min_rows, err);
}

cv_status cv_cpu_max(const cv_op_args_t *args, cv_err_t *err)
{
    return run_variadic(args, max_rows, err);
}

cv_status cv_cpu_sum(const cv_op_args_t *args, cv_err_t *err)
{
    return run_variadic(args, add_rows, err);
}

/* The sum of the inputs divided by their count (a division, not a product
 * with 1/n, to round like the reference). */
cv_status cv_cpu_mean(const cv_op_args_t *args, cv_err_t *err)
{
    cv_dtype_t dtype = args->inputs[0]->dtype;
    if (!cv_dtype_is_float(dtype)) return unsupported(args, dtype, err);
    cv_status st = run_variadic(args, add_rows, err);
    if (st != CV_STATUS_OK) return st;
    cv_tensor_t *out = args->outputs[0];
    int64_t n = cv_shape_numel(&out->shape);
    int count = args->ninputs;
    if (dtype == CV_DTYPE_FP32) {
        float *y = out->data;
        for (int64_t i = 0; i < n; i++) y[i] /= (float)count;
    } else if (dtype == CV_DTYPE_FP64) {
        double *y = out->data;
        for (int64_t i = 0; i < n; i++) y[i] /= (double)count;
    } else {
        for (int64_t i = 0; i < n; i++)
            cv_tensor_set_f64(out, i, (float)cv_tensor_get_f64(out, i) / (float)count);
    }
    return CV_STATUS_OK;
}

/* ---- exact scalar values (Pow with mixed dtypes, Cast) ------------------- */

/* One element of any stored dtype, held without loss: floats as double,
 * signed integers as int64, unsigned integers and BOOL as uint64. */
typedef enum num_kind { NUM_FLOAT, NUM_SIGNED, NUM_UNSIGNED } num_kind_t;
typedef struct num {
    num_kind_t kind;
    double f;
    int64_t i;
    uint64_t u;
} num_t;

static num_t num_read(const void *data, cv_dtype_t dtype, int64_t idx)
{
    num_t v = {.kind = NUM_FLOAT};
    switch (dtype) {
    case CV_DTYPE_FP32: v.f = ((const float *)data)[idx]; break;
    case CV_DTYPE_FP64: v.f = ((const double *)data)[idx]; break;
    case CV_DTYPE_FP16: v.f = cv_fp16_to_fp32(((const uint16_t *)data)[idx]); break;
    case CV_DTYPE_BF16: v.f = cv_bf16_to_fp32(((const uint16_t *)data)[idx]); break;
    case CV_DTYPE_INT8: v.kind = NUM_SIGNED, v.i = ((const int8_t *)data)[idx]; break;
    case CV_DTYPE_INT16: v.kind = NUM_SIGNED, v.i = ((const int16_t *)data)[idx]; break;
    case CV_DTYPE_INT32: v.kind = NUM_SIGNED, v.i = ((const int32_t *)data)[idx]; break;
    case CV_DTYPE_INT64: v.kind = NUM_SIGNED, v.i = ((const int64_t *)data)[idx]; break;
    case CV_DTYPE_UINT8: v.kind = NUM_UNSIGNED, v.u = ((const uint8_t *)data)[idx]; break;
    case CV_DTYPE_UINT16: v.kind = NUM_UNSIGNED, v.u = ((const uint16_t *)data)[idx]; break;
    case CV_DTYPE_UINT32: v.kind = NUM_UNSIGNED, v.u = ((const uint32_t *)data)[idx]; break;
    case CV_DTYPE_UINT64: v.kind = NUM_UNSIGNED, v.u = ((const uint64_t *)data)[idx]; break;
    case CV_DTYPE_BOOL: v.kind = NUM_UNSIGNED, v.u = ((const uint8_t *)data)[idx] != 0; break;
    default: CV_ASSERT(!"a stored numeric dtype");
    }
    return v;
}

static double num_to_f64(num_t v)
{
    return v.kind == NUM_FLOAT ? v.f : v.kind == NUM_SIGNED ? (double)v.i : (double)v.u;
}

static float num_to_f32(num_t v)
{
    /* Integers convert straight to float: through double would round twice. */
    return v.kind == NUM_FLOAT ? (float)v.f : v.kind == NUM_SIGNED ? (float)v.i : (float)v.u;
}

/* The float nearest d rounded toward zero, with its last bit set when
 * inexact ("round to odd"): rounding that float again to FP16 or BF16 then
 * equals rounding d directly, with no double-rounding error. */
static float f32_round_odd(double d)
{
    float f = (float)d;
    if (isnan(d) || isinf(f) || (double)f == d) return f;
    if (fabs((double)f) > fabs(d)) f = nextafterf(f, 0.0f);
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    bits |= 1;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Float to integer bits: truncates toward zero like C; NaN reads 0; values
 * outside int64 (uint64 for a UINT64 target) saturate there. Narrower
 * integer dtypes then keep the low bits, as a C cast does. */
static uint64_t float_to_int_bits(double d, bool to_uint64)
{
    if (isnan(d)) return 0;
    if (d > -9223372036854775808.0 - 1.0 && d < 9223372036854775808.0)
        return (uint64_t)(int64_t)d;
    if (to_uint64) return d > 0 ? (d < 18446744073709551616.0 ? (uint64_t)d : UINT64_MAX) : 0;
    return d > 0 ? (uint64_t)INT64_MAX : (uint64_t)INT64_MIN;
}

static uint64_t num_to_int_bits(num_t v, bool to_uint64)
{
    switch (v.kind) {
    case NUM_SIGNED: return (uint64_t)v.i;
    case NUM_UNSIGNED: return v.u;
    case NUM_FLOAT: break;
    }
    return float_to_int_bits(v.f, to_uint64);
}

static void num_write(void *data, cv_dtype_t dtype, int64_t idx, num_t v)
{
    switch (dtype) {
    case CV_DTYPE_FP32: ((float *)data)[idx] = num_to_f32(v); break;
    case CV_DTYPE_FP64: ((double *)data)[idx] = num_to_f64(v); break;
    case CV_DTYPE_FP16:
        ((uint16_t *)data)[idx] = cv_fp32_to_fp16(f32_round_odd(num_to_f64(v)));
        break;
    case CV_DTYPE_BF16:
        ((uint16_t *)data)[idx] = cv_fp32_to_bf16(f32_round_odd(num_to_f64(v)));
        break;
    case CV_DTYPE_BOOL:
        ((uint8_t *)data)[idx] = v.kind == NUM_FLOAT ? v.f != 0.0 : num_to_int_bits(v, true) != 0;
        break;
    case CV_DTYPE_INT8: ((int8_t *)data)[idx] = (int8_t)num_to_int_bits(v, false); break;
    case CV_DTYPE_INT16: ((int16_t *)data)[idx] = (int16_t)num_to_int_bits(v, false); break;
    case CV_DTYPE_INT32: ((int32_t *)data)[idx] = (int32_t)num_to_int_bits(v, false); break;
    case CV_DTYPE_INT64: ((int64_t *)data)[idx] = (int64_t)num_to_int_bits(v, false); break;
    case CV_DTYPE_UINT8: ((uint8_t *)data)[idx] = (uint8_t)num_to_int_bits(v, false); break;
    case CV_DTYPE_UINT16: ((uint16_t *)data)[idx] = (uint16_t)num_to_int_bits(v, false); break;
    case CV_DTYPE_UINT32: ((uint32_t *)data)[idx] = (uint32_t)num_to_int_bits(v, false); break;
    case CV_DTYPE_UINT64: ((uint64_t *)data)[idx] = num_to_int_bits(v, true); break;
    default: CV_ASSERT(!"a stored numeric dtype");
    }
}

/* ---- Pow -------------------------------------------------------------------- */

#define OP_POW_F(a, b, T, WU) pow(a, b)
DEF_BINARY_FLOATS(pow, OP_POW_F)
static const row_fn pow_rows[DTYPE_SLOTS] = {TABLE_FLOATS(pow)};

/* base^e in 64 bits by squaring; wraps like repeated multiplication. */
static uint64_t ipow_bits(uint64_t base, uint64_t e)
{
    uint64_t r = 1;
    while (e) {
        if (e & 1) r *= base;
        base *= base;
        e >>= 1;
    }
    return r;
}

/* x^y with the result in x's kind. Integer bases stay exact for integral
 * exponents (integer dtypes, or integral float values); a fractional
 * exponent takes the real power, truncated on the way back. */
static num_t pow_num(num_t x, num_t y)
{
    num_t r = {.kind = NUM_FLOAT};
    if (x.kind == NUM_FLOAT) {
        r.f = pow(x.f, num_to_f64(y));
        return r;
    }
    bool neg_exp;
    uint64_t e;
    if (y.kind == NUM_FLOAT) {
        double t = y.f;
        if (!(t == trunc(t) && fabs(t) < 9223372036854775808.0)) {
            r.f = pow(num_to_f64(x), t);
            return r;
        }
        neg_exp = t < 0;
        e = (uint64_t)(int64_t)fabs(t);
    } else if (y.kind == NUM_SIGNED) {
        neg_exp = y.i < 0;
        e = neg_exp ? (uint64_t)0 - (uint64_t)y.i : (uint64_t)y.i;
    } else {
        neg_exp = false;
        e = y.u;
    }
    uint64_t base = x.kind == NUM_SIGNED ? (uint64_t)x.i : x.u;
    uint64_t bits;
    if (neg_exp) {
        /* 1 / x^e is an integer only for x = 1 and x = -1; the rest truncate to 0. */
        bool minus_one = x.kind == NUM_SIGNED && x.i == -1;
        bits = base == 1 ? 1 : minus_one ? ((e & 1) ? UINT64_MAX : 1) : 0;
    } else {
        bits = ipow_bits(base, e);
    }
    r.kind = x.kind;
    r.i = (int64_t)bits;
    r.u = bits;
    return r;
}

typedef struct pow_ctx {
    cv_dtype_t x_dtype, y_dtype;
} pow_ctx_t;

static void pow_mixed_row(void *out, const char *const *in, const int64_t *step, int64_t n,
                          const void *ctx)
{
    const pow_ctx_t *pc = ctx;
    for (int64_t i = 0; i < n; i++) {
        num_t x = num_read(in[0], pc->x_dtype, i * step[0]);
        num_t y = num_read(in[1], pc->y_dtype, i * step[1]);
        num_write(out, pc->x_dtype, i, pow_num(x, y));
    }
}

/* Pow(X, Y): Z has X's dtype. FP32 squares (Pow(x, 2) in decomposed norms)
 * get a plain multiply. */
cv_status cv_cpu_pow(const cv_op_args_t *args, cv_err_t *err)
{
    CV_ASSERT(args->ninputs >= 2 && args->noutputs >= 1);
    const cv_tensor_t *x = args->inputs[0], *y = args->inputs[1];
    cv_tensor_t *z = args->outputs[0];
    const cv_tensor_t *ins[2] = {x, y};
    if (!cv_dtype_is_numeric(x->dtype)) return unsupported(args, x->dtype, err);
    if (!cv_dtype_is_numeric(y->dtype)) return unsupported(args, y->dtype, err);
    int64_t n = cv_shape_numel(&z->shape);
    if (x->dtype == CV_DTYPE_FP32 && y->dtype == CV_DTYPE_FP32 &&
        cv_shape_numel(&y->shape) == 1 && cv_shape_numel(&x->shape) == n &&
        ((const float *)y->data)[0] == 2.0f) {
        const float *a = x->data;
        float *c = z->data;
        for (int64_t i = 0; i < n; i++) c[i] = a[i] * a[i];
        return CV_STATUS_OK;
    }
    if (x->dtype == y->dtype && cv_dtype_is_float(x->dtype)) {
        bcast_apply(elementwise_pool(args), z, ins, 2, row_for(pow_rows, x->dtype), NULL);
        return CV_STATUS_OK;
    }
    pow_ctx_t pc = {x->dtype, y->dtype};
    bcast_apply(elementwise_pool(args), z, ins, 2, pow_mixed_row, &pc);
    return CV_STATUS_OK;
}

/* ---- Where -------------------------------------------------------------------- */

/* Where copies elements without reading their values, so one row per
 * element size serves every dtype. */
#define DEF_WHERE(BITS)                                                                  \
    static void where_##BITS(void *out, const char *const *in, const int64_t *step,      \
                             int64_t n, const void *ctx)                                 \
    {                                                                                    \
        (void)ctx;                                                                       \
        const uint8_t *c = (const uint8_t *)in[0];                                       \
        const uint##BITS##_t *a = (const uint##BITS##_t *)in[1];                         \
        const uint##BITS##_t *b = (const uint##BITS##_t *)in[2];                         \
        uint##BITS##_t *o = out;                                                         \
        if (step[0] && step[1] && step[2]) {                                             \
            for (int64_t i = 0; i < n; i++) o[i] = c[i] ? a[i] : b[i];                   \
        } else {                                                                         \
            for (int64_t i = 0; i < n; i++)                                              \
                o[i] = c[i * step[0]] ? a[i * step[1]] : b[i * step[2]];                 \
        }                                                                                \
    }
DEF_WHERE(8)
DEF_WHERE(16)
DEF_WHERE(32)
DEF_WHERE(64)

cv_status cv_cpu_where(const cv_op_args_t *args, cv_err_t *err)
{
    CV_ASSERT(args->ninputs >= 3 && args->noutputs >= 1);
    const cv_tensor_t *ins[3] = {args->inputs[0], args->inputs[1], args->inputs[2]};
    if (ins[0]->dtype != CV_DTYPE_BOOL) return unsupported(args, ins[0]->dtype, err);
    CV_ASSERT(ins[1]->dtype == ins[2]->dtype);
    row_fn fn;
    switch (cv_dtype_size(ins[1]->dtype)) {
    case 1: fn = where_8; break;
    case 2: fn = where_16; break;
    case 4: fn = where_32; break;
    case 8: fn = where_64; break;
    default: return unsupported(args, ins[1]->dtype, err);
    }
    bcast_apply(elementwise_pool(args), args->outputs[0], ins, 3, fn, NULL);
    return CV_STATUS_OK;
}

/* ---- Cast --------------------------------------------------------------------- */

/* Cast(input) to attribute `to`. The conversions between FP32 and the other
 * float dtypes have their own loops; every other pair goes element by
 * element through num_t, which keeps 64-bit integers exact. */
cv_status cv_cpu_cast(const cv_op_args_t *args, cv_err_t *err)
{
    CV_ASSERT(args->ninputs >= 1 && args->noutputs >= 1);
    const cv_tensor_t *x = args->inputs[0];
    cv_tensor_t *y = args->outputs[0];
    int64_t n = cv_shape_numel(&x->shape);
    CV_ASSERT(cv_shape_numel(&y->shape) == n);
    cv_dtype_t from = x->dtype, to = y->dtype;
    bool from_ok = cv_dtype_is_numeric(from) || from == CV_DTYPE_BOOL;
    bool to_ok = cv_dtype_is_numeric(to) || to == CV_DTYPE_BOOL;
    if (!from_ok) return unsupported(args, from, err);
    if (!to_ok) return cv_errorf(err, CV_STATUS_UNSUPPORTED, "Cast to %s is not supported",
                                 cv_dtype_name(to));
    if (from == to) {
        if (y->data != x->data) memcpy(y->data, x->data, cv_tensor_nbytes(x));
        return CV_STATUS_OK;
    }
    const void *src = x->data;
    void *dst = y->data;
    if (from == CV_DTYPE_FP32 && to == CV_DTYPE_FP16) {
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = cv_fp32_to_fp16(((const float *)src)[i]);
    } else if (from == CV_DTYPE_FP16 && to == CV_DTYPE_FP32) {
        for (int64_t i = 0; i < n; i++)
            ((float *)dst)[i] = cv_fp16_to_fp32(((const uint16_t *)src)[i]);
    } else if (from == CV_DTYPE_FP32 && to == CV_DTYPE_BF16) {
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = cv_fp32_to_bf16(((const float *)src)[i]);
    } else if (from == CV_DTYPE_BF16 && to == CV_DTYPE_FP32) {
        for (int64_t i = 0; i < n; i++)
            ((float *)dst)[i] = cv_bf16_to_fp32(((const uint16_t *)src)[i]);
    } else if (from == CV_DTYPE_FP32 && to == CV_DTYPE_FP64) {
        for (int64_t i = 0; i < n; i++) ((double *)dst)[i] = ((const float *)src)[i];
    } else if (from == CV_DTYPE_FP64 && to == CV_DTYPE_FP32) {
        for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = (float)((const double *)src)[i];
    } else {
        for (int64_t i = 0; i < n; i++) num_write(dst, to, i, num_read(src, from, i));
    }
    return CV_STATUS_OK;
}
