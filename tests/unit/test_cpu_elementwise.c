/*
 * test_cpu_elementwise.c: shape inference and CPU kernels of the elementwise
 * ops, run as a pair through the op table (infer, then the kernel on the
 * inferred output) and checked against values computed here: naive
 * double-precision loops with their own broadcasting index math, or hand
 * values where exactness is the point (integer division, uint64 beyond
 * 2^53, Cast rounding).
 */
#include "opcase.h"

#include "ir/infer.h"

#include <math.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

/* The opset every case here runs at: one where all of these ops exist
 * (Gelu came in 20). */
#define OPSET 22

/* Expects success; returns the output. */
static cv_tensor_t run_ok(cv_op_t op, const cv_attr_t *attrs, int nattrs,
                          const cv_tensor_t *const *ins, int nin)
{
    cv_tensor_t out;
    cv_err_t err;
    cv_status st = cv_test_op_run(op, OPSET, attrs, nattrs, ins, nin, &out, &err);
    if (st != CV_STATUS_OK) fail_msg("%s failed: %s", cv_op_name(op), err.msg);
    return out;
}

/* Expects infer (or the kernel) to fail with `status` and a message
 * containing each of the given fragments. */
static void expect_error(cv_op_t op, const cv_attr_t *attrs, int nattrs,
                         const cv_tensor_t *const *ins, int nin, cv_status status,
                         const char *frag1, const char *frag2)
{
    cv_tensor_t out;
    cv_err_t err;
    cv_status st = cv_test_op_run(op, OPSET, attrs, nattrs, ins, nin, &out, &err);
    cv_tensor_free(&out);
    assert_int_equal(st, status);
    if (frag1 && !strstr(err.msg, frag1)) fail_msg("'%s' lacks '%s'", err.msg, frag1);
    if (frag2 && !strstr(err.msg, frag2)) fail_msg("'%s' lacks '%s'", err.msg, frag2);
}

static void assert_shape(const cv_tensor_t *t, cv_shape_t want)
{
    char a[64], b[64];
    if (!cv_shape_equal(&t->shape, &want))
        fail_msg("shape %s, expected %s", cv_shape_str(&t->shape, a, sizeof a),
                 cv_shape_str(&want, b, sizeof b));
}

static void assert_close(double got, double want, double rtol, int64_t i)
{
    if (isnan(want)) {
        if (!isnan(got)) fail_msg("element %lld: %.9g, expected NaN", (long long)i, got);
        return;
    }
    double tol = rtol * fmax(1.0, fabs(want));
    if (!(fabs(got - want) <= tol))
        fail_msg("element %lld: %.9g, expected %.9g", (long long)i, got, want);
}

/* Flat index into `in` (broadcast to `out`) of output element i. */
static int64_t bcast_index(const cv_shape_t *in, const cv_shape_t *out, int64_t i)
{
    int64_t idx = 0, stride = 1;
    for (int d = out->ndim - 1; d >= 0; d--) {
        int64_t coord = i % out->dims[d];
        i /= out->dims[d];
        int j = d - (out->ndim - in->ndim);
        if (j < 0) continue;
        if (in->dims[j] != 1) idx += coord * stride;
        stride *= in->dims[j];
    }
    return idx;
}

static void fill_values(cv_tensor_t *t, uint64_t seed, double lo, double hi)
{
    uint64_t s = seed * 2862933555777941757ull + 3037000493ull;
    int64_t n = cv_shape_numel(&t->shape);
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(s >> 11) / 9007199254740992.0;
        cv_tensor_set_f64(t, i, lo + (hi - lo) * u);
    }
}

static cv_attr_t attr_f(const char *name, float v)
{
    return (cv_attr_t){.name = (char *)name, .type = CV_ATTR_FLOAT, .f = v};
}

static cv_attr_t attr_i(const char *name, int64_t v)
{
    return (cv_attr_t){.name = (char *)name, .type = CV_ATTR_INT, .i = v};
}

static cv_attr_t attr_s(const char *name, const char *v)
{
    return (cv_attr_t){.name = (char *)name, .type = CV_ATTR_STRING, .s = (char *)v};
}

/* ---- the op table ---------------------------------------------------------------- */

/* The op table reaches these functions through weak references, which do
 * not pull objects out of a static archive: naming them here both checks
 * the table and links them into this test. */
static void test_op_table(void **state)
{
    (void)state;
#define CHECK_ROW(id, stem)                                                              \
    assert_true(cv_op_def(CV_OP_##id)->infer == cv_infer_##stem);                        \
    assert_true(cv_op_def(CV_OP_##id)->cpu == cv_cpu_##stem);
    CHECK_ROW(RELU, relu) CHECK_ROW(LEAKY_RELU, leaky_relu) CHECK_ROW(PRELU, prelu)
    CHECK_ROW(ELU, elu) CHECK_ROW(SELU, selu) CHECK_ROW(CLIP, clip)
    CHECK_ROW(SIGMOID, sigmoid) CHECK_ROW(HARD_SIGMOID, hard_sigmoid)
    CHECK_ROW(HARD_SWISH, hard_swish) CHECK_ROW(TANH, tanh) CHECK_ROW(ERF, erf)
    CHECK_ROW(GELU, gelu) CHECK_ROW(SOFTPLUS, softplus) CHECK_ROW(SQRT, sqrt)
    CHECK_ROW(EXP, exp) CHECK_ROW(LOG, log) CHECK_ROW(NEG, neg) CHECK_ROW(ABS, abs)
    CHECK_ROW(ADD, add) CHECK_ROW(SUB, sub) CHECK_ROW(MUL, mul) CHECK_ROW(DIV, div)
    CHECK_ROW(POW, pow) CHECK_ROW(MIN, min) CHECK_ROW(MAX, max) CHECK_ROW(SUM, sum)
    CHECK_ROW(MEAN, mean) CHECK_ROW(EQUAL, equal) CHECK_ROW(WHERE, where)
    CHECK_ROW(CAST, cast)
#undef CHECK_ROW
}

/* ---- unary float ops ------------------------------------------------------- */

static const float sample[] = {-4.0f, -2.5f, -1.0f, -0.3f, 0.0f, 0.2f, 0.9f, 1.7f, 3.0f, 6.5f};
#define NSAMPLE ((int64_t)CV_ARRAY_LEN(sample))

typedef double (*ref_fn)(double x, const double *p);

static double ref_relu(double x, const double *p) { return x < 0 ? 0 : x; }
static double ref_leaky(double x, const double *p) { return x < 0 ? p[0] * x : x; }
static double ref_elu(double x, const double *p) { return x < 0 ? p[0] * (exp(x) - 1) : x; }
static double ref_selu(double x, const double *p)
{
    return x <= 0 ? p[1] * (p[0] * exp(x) - p[0]) : p[1] * x;
}
static double ref_sigmoid(double x, const double *p) { return 1 / (1 + exp(-x)); }
static double ref_hard_sigmoid(double x, const double *p)
{
    return fmax(0, fmin(1, p[0] * x + p[1]));
}
static double ref_hard_swish(double x, const double *p) { return x * fmax(0, fmin(1, x / 6 + 0.5)); }
static double ref_tanh(double x, const double *p) { return tanh(x); }
static double ref_erf(double x, const double *p) { return erf(x); }
static double ref_gelu(double x, const double *p) { return 0.5 * x * (1 + erf(x / sqrt(2))); }
static double ref_gelu_tanh(double x, const double *p)
{
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double ref_softplus(double x, const double *p) { return log(1 + exp(x)); }
static double ref_sqrt(double x, const double *p) { return sqrt(fabs(x)); }
static double ref_exp(double x, const double *p) { return exp(x); }
static double ref_log(double x, const double *p) { return log(fabs(x)); }
static double ref_neg(double x, const double *p) { return -x; }
static double ref_abs(double x, const double *p) { return fabs(x); }

/* Runs a unary op over `sample` (absolute values where the op needs them)
 * in `dtype` and compares with the reference at relative tolerance rtol. */
static void check_unary(cv_op_t op, cv_dtype_t dtype, const cv_attr_t *attrs, int nattrs,
                        ref_fn ref, const double *params, bool positive, double rtol)
{
    cv_tensor_t *x = cv_test_tensor(dtype, CV_TEST_SHAPE(2, NSAMPLE / 2), NULL);
    for (int64_t i = 0; i < NSAMPLE; i++) {
        double v = positive ? fabs(sample[i]) + 0.125 : sample[i];
        cv_tensor_set_f64(x, i, v);
    }
    const cv_tensor_t *ins[1] = {x};
    cv_tensor_t y = run_ok(op, attrs, nattrs, ins, 1);
    assert_int_equal(y.dtype, dtype);
    assert_shape(&y, x->shape);
    for (int64_t i = 0; i < NSAMPLE; i++)
        assert_close(cv_tensor_get_f64(&y, i), ref(cv_tensor_get_f64(x, i), params), rtol, i);
    cv_tensor_free(&y);
    cv_tensor_destroy(x);
}

static void test_unary_fp32(void **state)
{
    (void)state;
    const double none[2] = {0, 0};
    const double r = 2e-6;
    check_unary(CV_OP_RELU, CV_DTYPE_FP32, NULL, 0, ref_relu, none, false, 0);
    cv_attr_t a01 = attr_f("alpha", 0.1f);
    double p01[1] = {(double)0.1f}, p001[1] = {(double)0.01f}, p1[1] = {1.0}, p2[1] = {2.0};
    check_unary(CV_OP_LEAKY_RELU, CV_DTYPE_FP32, &a01, 1, ref_leaky, p01, false, r);
    check_unary(CV_OP_LEAKY_RELU, CV_DTYPE_FP32, NULL, 0, ref_leaky, p001, false, r);
    cv_attr_t a2 = attr_f("alpha", 2.0f);
    check_unary(CV_OP_ELU, CV_DTYPE_FP32, &a2, 1, ref_elu, p2, false, r);
    check_unary(CV_OP_ELU, CV_DTYPE_FP32, NULL, 0, ref_elu, p1, false, r);
    double selu_default[2] = {1.67326319217681884765625, 1.05070102214813232421875};
    check_unary(CV_OP_SELU, CV_DTYPE_FP32, NULL, 0, ref_selu, selu_default, false, r);
    cv_attr_t selu_attrs[2] = {attr_f("alpha", 2.0f), attr_f("gamma", 3.0f)};
    double selu_p[2] = {2.0, 3.0};
    check_unary(CV_OP_SELU, CV_DTYPE_FP32, selu_attrs, 2, ref_selu, selu_p, false, r);
    check_unary(CV_OP_SIGMOID, CV_DTYPE_FP32, NULL, 0, ref_sigmoid, none, false, r);
    double hs_default[2] = {(double)0.2f, 0.5};
    check_unary(CV_OP_HARD_SIGMOID, CV_DTYPE_FP32, NULL, 0, ref_hard_sigmoid, hs_default, false,
                r);
    cv_attr_t hs_attrs[2] = {attr_f("alpha", 0.5f), attr_f("beta", 0.6f)};
    double hs_p[2] = {0.5, (double)0.6f};
    check_unary(CV_OP_HARD_SIGMOID, CV_DTYPE_FP32, hs_attrs, 2, ref_hard_sigmoid, hs_p, false, r);
    check_unary(CV_OP_HARD_SWISH, CV_DTYPE_FP32, NULL, 0, ref_hard_swish, none, false, r);
    check_unary(CV_OP_TANH, CV_DTYPE_FP32, NULL, 0, ref_tanh, none, false, r);
    check_unary(CV_OP_ERF, CV_DTYPE_FP32, NULL, 0, ref_erf, none, false, r);
    check_unary(CV_OP_GELU, CV_DTYPE_FP32, NULL, 0, ref_gelu, none, false, r);
    cv_attr_t approx = attr_s("approximate", "tanh");
    check_unary(CV_OP_GELU, CV_DTYPE_FP32, &approx, 1, ref_gelu_tanh, none, false, r);
    check_unary(CV_OP_SOFTPLUS, CV_DTYPE_FP32, NULL, 0, ref_softplus, none, false, r);
    check_unary(CV_OP_SQRT, CV_DTYPE_FP32, NULL, 0, ref_sqrt, none, true, r);
    check_unary(CV_OP_EXP, CV_DTYPE_FP32, NULL, 0, ref_exp, none, false, r);
    check_unary(CV_OP_LOG, CV_DTYPE_FP32, NULL, 0, ref_log, none, true, r);
    check_unary(CV_OP_NEG, CV_DTYPE_FP32, NULL, 0, ref_neg, none, false, 0);
    check_unary(CV_OP_ABS, CV_DTYPE_FP32, NULL, 0, ref_abs, none, false, 0);
}

static void test_unary_other_floats(void **state)
{
    (void)state;
    const double none[2] = {0, 0};
    check_unary(CV_OP_SIGMOID, CV_DTYPE_FP64, NULL, 0, ref_sigmoid, none, false, 1e-14);
    check_unary(CV_OP_EXP, CV_DTYPE_FP64, NULL, 0, ref_exp, none, false, 1e-14);
    check_unary(CV_OP_GELU, CV_DTYPE_FP64, NULL, 0, ref_gelu, none, false, 1e-14);
    /* FP16 keeps 11 significant bits, BF16 8: the tolerances are half an ulp
     * of the result plus the input's own rounding. */
    check_unary(CV_OP_SIGMOID, CV_DTYPE_FP16, NULL, 0, ref_sigmoid, none, false, 1e-3);
    check_unary(CV_OP_TANH, CV_DTYPE_FP16, NULL, 0, ref_tanh, none, false, 1e-3);
    check_unary(CV_OP_RELU, CV_DTYPE_BF16, NULL, 0, ref_relu, none, false, 0);
    check_unary(CV_OP_SOFTPLUS, CV_DTYPE_BF16, NULL, 0, ref_softplus, none, false, 8e-3);
}

/* Softplus and Sigmoid stay finite and accurate far from 0. */
static void test_unary_extremes(void **state)
{
    (void)state;
    float xs[4] = {-100.0f, -30.0f, 30.0f, 100.0f};
    cv_tensor_t *x = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(4), xs);
    const cv_tensor_t *ins[1] = {x};
    cv_tensor_t y = run_ok(CV_OP_SOFTPLUS, NULL, 0, ins, 1);
    const float *sp = y.data;
    assert_true(fabs(sp[1] - exp(-30.0)) <= 1e-6 * exp(-30.0));
    assert_true(sp[2] == 30.0f && sp[3] == 100.0f);
    cv_tensor_free(&y);
    y = run_ok(CV_OP_SIGMOID, NULL, 0, ins, 1);
    const float *sg = y.data;
    assert_true(fabs(sg[1] - exp(-30.0)) <= 1e-6 * exp(-30.0));
    assert_true(sg[0] > 0.0f);
    assert_true(sg[3] == 1.0f);
    cv_tensor_free(&y);
    cv_tensor_destroy(x);
}

static void test_unary_int(void **state)
{
    (void)state;
    int32_t xi[5] = {-7, -1, 0, 3, INT32_MIN};
    cv_tensor_t *x = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(5), xi);
    const cv_tensor_t *ins[1] = {x};
    cv_tensor_t y = run_ok(CV_OP_RELU, NULL, 0, ins, 1);
    int32_t relu_want[5] = {0, 0, 0, 3, 0};
    assert_memory_equal(y.data, relu_want, sizeof relu_want);
    cv_tensor_free(&y);
    y = run_ok(CV_OP_NEG, NULL, 0, ins, 1);
    int32_t neg_want[5] = {7, 1, 0, -3, INT32_MIN}; /* wraps like two's complement */
    assert_memory_equal(y.data, neg_want, sizeof neg_want);
    cv_tensor_free(&y);
    cv_tensor_destroy(x);

    int8_t xb[4] = {-128, -5, 0, 127};
    x = cv_test_tensor(CV_DTYPE_INT8, CV_TEST_SHAPE(4), xb);
    ins[0] = x;
    y = run_ok(CV_OP_ABS, NULL, 0, ins, 1);
    int8_t abs_want[4] = {-128, 5, 0, 127};
    assert_memory_equal(y.data, abs_want, sizeof abs_want);
    cv_tensor_free(&y);
    cv_tensor_destroy(x);

    uint64_t xu[2] = {UINT64_MAX, 5};
    x = cv_test_tensor(CV_DTYPE_UINT64, CV_TEST_SHAPE(2), xu);
    ins[0] = x;
    y = run_ok(CV_OP_ABS, NULL, 0, ins, 1);
    assert_memory_equal(y.data, xu, sizeof xu);
    cv_tensor_free(&y);
    expect_error(CV_OP_NEG, NULL, 0, ins, 1, CV_STATUS_UNSUPPORTED, "Neg on UINT64", NULL);
    expect_error(CV_OP_SQRT, NULL, 0, ins, 1, CV_STATUS_UNSUPPORTED, "Sqrt on UINT64", NULL);
    cv_tensor_destroy(x);
}

/* ---- Clip ------------------------------------------------------------------------ */

static void test_clip(void **state)
{
    (void)state;
    float xs[6] = {-3.0f, -1.0f, 0.0f, 0.5f, 2.0f, NAN};
    cv_tensor_t *x = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(2, 3), xs);
    float lo_v = -1.5f, hi_v = 1.0f, big = 2.0f;
    cv_tensor_t *lo = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SCALAR, &lo_v);
    cv_tensor_t *hi = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SCALAR, &hi_v);
    cv_tensor_t *lo_big = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(1), &big);

    const cv_tensor_t *both[3] = {x, lo, hi};
    cv_tensor_t y = run_ok(CV_OP_CLIP, NULL, 0, both, 3);
    const float *p = y.data;
    float want_both[5] = {-1.5f, -1.0f, 0.0f, 0.5f, 1.0f};
    for (int i = 0; i < 5; i++) assert_true(p[i] == want_both[i]);
    assert_true(isnan(p[5]));
    cv_tensor_free(&y);

    const cv_tensor_t *only_max[3] = {x, NULL, hi};
    y = run_ok(CV_OP_CLIP, NULL, 0, only_max, 3);
    p = y.data;
    float want_max[5] = {-3.0f, -1.0f, 0.0f, 0.5f, 1.0f};
    for (int i = 0; i < 5; i++) assert_true(p[i] == want_max[i]);
    cv_tensor_free(&y);

    const cv_tensor_t *only_min[2] = {x, lo};
    y = run_ok(CV_OP_CLIP, NULL, 0, only_min, 2);
    p = y.data;
    float want_min[5] = {-1.5f, -1.0f, 0.0f, 0.5f, 2.0f};
    for (int i = 0; i < 5; i++) assert_true(p[i] == want_min[i]);
    cv_tensor_free(&y);

    const cv_tensor_t *none[1] = {x};
    y = run_ok(CV_OP_CLIP, NULL, 0, none, 1);
    assert_memory_equal(y.data, xs, 5 * sizeof(float));
    cv_tensor_free(&y);

    /* min > max: every value becomes max (min(max(x, 2), 1) = 1). */
    const cv_tensor_t *crossed[3] = {x, lo_big, hi};
    y = run_ok(CV_OP_CLIP, NULL, 0, crossed, 3);
    p = y.data;
    for (int i = 0; i < 5; i++) assert_true(p[i] == 1.0f);
    cv_tensor_free(&y);

    int32_t xi[4] = {-9, 0, 4, 100}, lo_i = -2, hi_i = 5;
    cv_tensor_t *x32 = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(4), xi);
    cv_tensor_t *lo32 = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SCALAR, &lo_i);
    cv_tensor_t *hi32 = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SCALAR, &hi_i);
    const cv_tensor_t *ints[3] = {x32, lo32, hi32};
    y = run_ok(CV_OP_CLIP, NULL, 0, ints, 3);
    int32_t want_i[4] = {-2, 0, 4, 5};
    assert_memory_equal(y.data, want_i, sizeof want_i);
    cv_tensor_free(&y);
    const cv_tensor_t *ints_max[3] = {x32, NULL, hi32};
    y = run_ok(CV_OP_CLIP, NULL, 0, ints_max, 3);
    int32_t want_i_max[4] = {-9, 0, 4, 5};
    assert_memory_equal(y.data, want_i_max, sizeof want_i_max);
    cv_tensor_free(&y);

    /* A bound of another dtype, or not a scalar, is refused. */
    const cv_tensor_t *mixed[3] = {x32, lo, NULL};
    expect_error(CV_OP_CLIP, NULL, 0, mixed, 2, CV_STATUS_INVALID_ARGUMENT, "min is FP32",
                 "INT32");
    cv_tensor_t *vec = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(2), NULL);
    const cv_tensor_t *not_scalar[3] = {x, NULL, vec};
    expect_error(CV_OP_CLIP, NULL, 0, not_scalar, 3, CV_STATUS_INVALID_ARGUMENT, "max",
                 "scalar");

    cv_tensor_destroy(vec);
    cv_tensor_destroy(x32);
    cv_tensor_destroy(lo32);
    cv_tensor_destroy(hi32);
    cv_tensor_destroy(x);
    cv_tensor_destroy(lo);
    cv_tensor_destroy(hi);
    cv_tensor_destroy(lo_big);
}

/* ---- broadcasting binary ops ---------------------------------------------------- */

static double ref_binary(cv_op_t op, double a, double b)
{
    switch (op) {
    case CV_OP_ADD: return a + b;
    case CV_OP_SUB: return a - b;
    case CV_OP_MUL: return a * b;
    case CV_OP_DIV: return a / b;
    case CV_OP_POW: return pow(a, b);
    case CV_OP_MIN: return fmin(a, b);
    case CV_OP_MAX: return fmax(a, b);
    case CV_OP_PRELU: return a < 0 ? a * b : a;
    default: fail_msg("no reference for %s", cv_op_name(op));
    }
    return 0;
}

/* op(A, B) for shapes sa and sb in `dtype`, checked against a double loop. */
static void check_binary(cv_op_t op, cv_dtype_t dtype, cv_shape_t sa, cv_shape_t sb,
                         cv_shape_t want_shape, double rtol)
{
    cv_tensor_t *a = cv_test_tensor(dtype, sa, NULL), *b = cv_test_tensor(dtype, sb, NULL);
    bool positive = op == CV_OP_POW;
    fill_values(a, 1, positive ? 0.5 : -3.0, 3.0);
    fill_values(b, 2, positive ? -2.0 : 0.5, 2.5);
    const cv_tensor_t *ins[2] = {a, b};
    cv_tensor_t c = run_ok(op, NULL, 0, ins, 2);
    assert_int_equal(c.dtype, dtype);
    assert_shape(&c, want_shape);
    int64_t n = cv_shape_numel(&c.shape);
    for (int64_t i = 0; i < n; i++) {
        double va = cv_tensor_get_f64(a, bcast_index(&a->shape, &c.shape, i));
        double vb = cv_tensor_get_f64(b, bcast_index(&b->shape, &c.shape, i));
        assert_close(cv_tensor_get_f64(&c, i), ref_binary(op, va, vb), rtol, i);
    }
    cv_tensor_free(&c);
    cv_tensor_destroy(a);
    cv_tensor_destroy(b);
}

static void test_binary_broadcast_fp32(void **state)
{
    (void)state;
    const cv_op_t ops[] = {CV_OP_ADD, CV_OP_SUB, CV_OP_MUL, CV_OP_DIV, CV_OP_POW};
    for (size_t k = 0; k < CV_ARRAY_LEN(ops); k++) {
        double r = 1e-6;
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(2, 3, 4), r);
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(4), CV_TEST_SHAPE(2, 3, 4), r);
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(3, 1), CV_TEST_SHAPE(2, 3, 4), r);
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SHAPE(2, 3, 4), CV_TEST_SCALAR, CV_TEST_SHAPE(2, 3, 4), r);
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SCALAR, CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(2, 3, 4), r);
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SHAPE(2, 1, 4), CV_TEST_SHAPE(3, 1), CV_TEST_SHAPE(2, 3, 4), r);
        /* Channel broadcast of a conv output, and a pattern that keeps 4 dims. */
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(3, 1, 1), CV_TEST_SHAPE(2, 3, 4, 5), r);
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SHAPE(1, 3, 1, 5), CV_TEST_SHAPE(2, 1, 4, 1), CV_TEST_SHAPE(2, 3, 4, 5),
                     r);
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SHAPE(2, 0, 4), CV_TEST_SHAPE(4), CV_TEST_SHAPE(2, 0, 4), r);
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SCALAR, CV_TEST_SCALAR, CV_TEST_SCALAR, r);
        check_binary(ops[k], CV_DTYPE_FP32, CV_TEST_SHAPE(1, 1), CV_TEST_SHAPE(1), CV_TEST_SHAPE(1, 1), r);
    }
}

static void test_binary_other_floats(void **state)
{
    (void)state;
    check_binary(CV_OP_ADD, CV_DTYPE_FP64, CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(3, 1), CV_TEST_SHAPE(2, 3, 4), 1e-15);
    check_binary(CV_OP_DIV, CV_DTYPE_FP64, CV_TEST_SHAPE(2, 1, 4), CV_TEST_SHAPE(3, 1), CV_TEST_SHAPE(2, 3, 4), 1e-15);
    check_binary(CV_OP_POW, CV_DTYPE_FP64, CV_TEST_SHAPE(4), CV_TEST_SHAPE(3, 4), CV_TEST_SHAPE(3, 4), 1e-15);
    /* FP16/BF16 compute in float and round once: inputs are exact in the
     * dtype, so half an ulp of the result bounds the error. */
    check_binary(CV_OP_MUL, CV_DTYPE_FP16, CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(4), CV_TEST_SHAPE(2, 3, 4), 1e-3);
    check_binary(CV_OP_SUB, CV_DTYPE_BF16, CV_TEST_SHAPE(2, 3, 4), CV_TEST_SCALAR, CV_TEST_SHAPE(2, 3, 4), 8e-3);
}

static void test_prelu(void **state)
{
    (void)state;
    check_binary(CV_OP_PRELU, CV_DTYPE_FP32, CV_TEST_SHAPE(2, 3, 2, 2), CV_TEST_SHAPE(3, 1, 1), CV_TEST_SHAPE(2, 3, 2, 2),
                 1e-6);
    check_binary(CV_OP_PRELU, CV_DTYPE_FP32, CV_TEST_SHAPE(3, 4, 5), CV_TEST_SHAPE(5), CV_TEST_SHAPE(3, 4, 5), 1e-6);
    check_binary(CV_OP_PRELU, CV_DTYPE_FP16, CV_TEST_SHAPE(3, 4), CV_TEST_SHAPE(3, 4), CV_TEST_SHAPE(3, 4), 1e-3);
    /* The slope must broadcast to X, not X to the slope. */
    cv_tensor_t *x = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(3, 4), NULL), *s = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(2, 3, 4), NULL);
    const cv_tensor_t *ins[2] = {x, s};
    expect_error(CV_OP_PRELU, NULL, 0, ins, 2, CV_STATUS_INVALID_ARGUMENT, "[2,3,4]", "[3,4]");
    cv_tensor_destroy(x);
    cv_tensor_destroy(s);
}

/* ---- integer arithmetic: exact, truncating, wrapping --------------------------- */

static void test_int_division(void **state)
{
    (void)state;
    int32_t a[6] = {-3, 3, -3, 3, 7, INT32_MIN}, b[6] = {2, 2, -2, -2, 0, -1};
    cv_tensor_t *ta = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(6), a), *tb = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(6), b);
    const cv_tensor_t *ins[2] = {ta, tb};
    cv_tensor_t c = run_ok(CV_OP_DIV, NULL, 0, ins, 2);
    /* toward zero; x / 0 reads 0 and INT32_MIN / -1 wraps instead of trapping */
    int32_t want[6] = {-1, 1, 1, -1, 0, INT32_MIN};
    assert_memory_equal(c.data, want, sizeof want);
    cv_tensor_free(&c);
    cv_tensor_destroy(ta);
    cv_tensor_destroy(tb);

    int16_t a16[3] = {-7, 100, 32767}, b16 = 3;
    ta = cv_test_tensor(CV_DTYPE_INT16, CV_TEST_SHAPE(3), a16);
    tb = cv_test_tensor(CV_DTYPE_INT16, CV_TEST_SCALAR, &b16);
    ins[0] = ta, ins[1] = tb;
    c = run_ok(CV_OP_DIV, NULL, 0, ins, 2);
    int16_t want16[3] = {-2, 33, 10922};
    assert_memory_equal(c.data, want16, sizeof want16);
    cv_tensor_free(&c);
    cv_tensor_destroy(ta);
    cv_tensor_destroy(tb);
}

static void test_uint64_exact(void **state)
{
    (void)state;
    const uint64_t p53 = 1ull << 53;
    uint64_t a[4] = {p53 + 1, UINT64_MAX - 1, (1ull << 32) + 1, UINT64_MAX};
    uint64_t b[4] = {2, 1, (1ull << 32) - 1, 3};
    cv_tensor_t *ta = cv_test_tensor(CV_DTYPE_UINT64, CV_TEST_SHAPE(4), a), *tb = cv_test_tensor(CV_DTYPE_UINT64, CV_TEST_SHAPE(4), b);
    const cv_tensor_t *ins[2] = {ta, tb};

    cv_tensor_t c = run_ok(CV_OP_ADD, NULL, 0, ins, 2);
    uint64_t add_want[4] = {p53 + 3, UINT64_MAX, (1ull << 33), 2}; /* the last wraps */
    assert_memory_equal(c.data, add_want, sizeof add_want);
    cv_tensor_free(&c);

    c = run_ok(CV_OP_SUB, NULL, 0, ins, 2);
    uint64_t sub_want[4] = {p53 - 1, UINT64_MAX - 2, 2, UINT64_MAX - 3};
    assert_memory_equal(c.data, sub_want, sizeof sub_want);
    cv_tensor_free(&c);

    c = run_ok(CV_OP_MUL, NULL, 0, ins, 2);
    uint64_t mul_want[4] = {2 * p53 + 2, UINT64_MAX - 1, UINT64_MAX, UINT64_MAX - 2};
    assert_memory_equal(c.data, mul_want, sizeof mul_want);
    cv_tensor_free(&c);

    c = run_ok(CV_OP_DIV, NULL, 0, ins, 2);
    uint64_t div_want[4] = {p53 / 2, UINT64_MAX - 1, 1, UINT64_MAX / 3};
    assert_memory_equal(c.data, div_want, sizeof div_want);
    cv_tensor_free(&c);

    /* Through double, UINT64_MAX - 1 and UINT64_MAX would compare equal. */
    uint64_t m[4] = {UINT64_MAX - 1, UINT64_MAX, p53 + 1, UINT64_MAX};
    cv_tensor_t *tm = cv_test_tensor(CV_DTYPE_UINT64, CV_TEST_SHAPE(4), m);
    const cv_tensor_t *mins[2] = {ta, tm};
    c = run_ok(CV_OP_MAX, NULL, 0, mins, 2);
    uint64_t max_want[4] = {UINT64_MAX - 1, UINT64_MAX, p53 + 1, UINT64_MAX};
    assert_memory_equal(c.data, max_want, sizeof max_want);
    cv_tensor_free(&c);
    c = run_ok(CV_OP_MIN, NULL, 0, mins, 2);
    uint64_t min_want[4] = {p53 + 1, UINT64_MAX - 1, (1ull << 32) + 1, UINT64_MAX};
    assert_memory_equal(c.data, min_want, sizeof min_want);
    cv_tensor_free(&c);
    c = run_ok(CV_OP_EQUAL, NULL, 0, mins, 2);
    uint8_t eq_want[4] = {0, 0, 0, 1};
    assert_memory_equal(c.data, eq_want, sizeof eq_want);
    cv_tensor_free(&c);

    cv_tensor_destroy(tm);
    cv_tensor_destroy(ta);
    cv_tensor_destroy(tb);
}

static void test_int_wrap_and_broadcast(void **state)
{
    (void)state;
    int8_t a[6] = {100, -100, 5, 127, -128, 0}, b[3] = {100, 2, -1};
    cv_tensor_t *ta = cv_test_tensor(CV_DTYPE_INT8, CV_TEST_SHAPE(2, 3), a), *tb = cv_test_tensor(CV_DTYPE_INT8, CV_TEST_SHAPE(3), b);
    const cv_tensor_t *ins[2] = {ta, tb};
    cv_tensor_t c = run_ok(CV_OP_ADD, NULL, 0, ins, 2);
    int8_t add_want[6] = {-56, -98, 4, -29, -126, -1};
    assert_memory_equal(c.data, add_want, sizeof add_want);
    cv_tensor_free(&c);
    c = run_ok(CV_OP_MUL, NULL, 0, ins, 2);
    int8_t mul_want[6] = {16, 56, -5, -100, 0, 0};
    assert_memory_equal(c.data, mul_want, sizeof mul_want);
    cv_tensor_free(&c);
    cv_tensor_destroy(ta);
    cv_tensor_destroy(tb);

    uint16_t u[2] = {65535, 3}, v[2] = {65535, 65535};
    ta = cv_test_tensor(CV_DTYPE_UINT16, CV_TEST_SHAPE(2), u);
    tb = cv_test_tensor(CV_DTYPE_UINT16, CV_TEST_SHAPE(2), v);
    ins[0] = ta, ins[1] = tb;
    c = run_ok(CV_OP_MUL, NULL, 0, ins, 2);
    uint16_t umul_want[2] = {1, 65533};
    assert_memory_equal(c.data, umul_want, sizeof umul_want);
    cv_tensor_free(&c);
    c = run_ok(CV_OP_SUB, NULL, 0, ins, 2);
    uint16_t usub_want[2] = {0, 4};
    assert_memory_equal(c.data, usub_want, sizeof usub_want);
    cv_tensor_free(&c);
    cv_tensor_destroy(ta);
    cv_tensor_destroy(tb);

    int64_t big[2] = {(1ll << 53) + 1, -((1ll << 60) + 7)}, one = 1;
    ta = cv_test_tensor(CV_DTYPE_INT64, CV_TEST_SHAPE(2), big);
    tb = cv_test_tensor(CV_DTYPE_INT64, CV_TEST_SCALAR, &one);
    ins[0] = ta, ins[1] = tb;
    c = run_ok(CV_OP_SUB, NULL, 0, ins, 2);
    int64_t sub_want[2] = {(1ll << 53), -((1ll << 60) + 8)};
    assert_memory_equal(c.data, sub_want, sizeof sub_want);
    cv_tensor_free(&c);
    cv_tensor_destroy(ta);
    cv_tensor_destroy(tb);
}

/* ---- Pow -------------------------------------------------------------------------- */

static void test_pow_types(void **state)
{
    (void)state;
    int32_t xi[6] = {2, -3, 2, 1, -1, 0}, yi[6] = {10, 3, -1, -5, -3, 0};
    cv_tensor_t *x = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(6), xi), *y = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(6), yi);
    const cv_tensor_t *ins[2] = {x, y};
    cv_tensor_t z = run_ok(CV_OP_POW, NULL, 0, ins, 2);
    assert_int_equal(z.dtype, CV_DTYPE_INT32);
    int32_t want_ii[6] = {1024, -27, 0, 1, -1, 1};
    assert_memory_equal(z.data, want_ii, sizeof want_ii);
    cv_tensor_free(&z);
    cv_tensor_destroy(x);
    cv_tensor_destroy(y);

    /* int64 base, float exponent: integral exponents stay exact past 2^53. */
    int64_t xl[4] = {1, 2, 3, 3};
    float yf[4] = {4.0f, 5.0f, 6.0f, 39.0f};
    x = cv_test_tensor(CV_DTYPE_INT64, CV_TEST_SHAPE(4), xl);
    y = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(4), yf);
    ins[0] = x, ins[1] = y;
    z = run_ok(CV_OP_POW, NULL, 0, ins, 2);
    assert_int_equal(z.dtype, CV_DTYPE_INT64);
    int64_t want_lf[4] = {1, 32, 729, 4052555153018976267ll};
    assert_memory_equal(z.data, want_lf, sizeof want_lf);
    cv_tensor_free(&z);
    cv_tensor_destroy(x);
    cv_tensor_destroy(y);

    /* float base, uint64 exponent: the output keeps X's dtype. */
    float xf[3] = {1.0f, 2.0f, -3.0f};
    uint64_t yu = 3;
    x = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(3), xf);
    y = cv_test_tensor(CV_DTYPE_UINT64, CV_TEST_SCALAR, &yu);
    ins[0] = x, ins[1] = y;
    z = run_ok(CV_OP_POW, NULL, 0, ins, 2);
    assert_int_equal(z.dtype, CV_DTYPE_FP32);
    float want_fu[3] = {1.0f, 8.0f, -27.0f};
    assert_memory_equal(z.data, want_fu, sizeof want_fu);
    cv_tensor_free(&z);
    cv_tensor_destroy(y);

    /* FP32 squared through the scalar fast path. */
    float two = 2.0f;
    y = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(1, 1), &two);
    ins[1] = y;
    z = run_ok(CV_OP_POW, NULL, 0, ins, 2);
    assert_shape(&z, CV_TEST_SHAPE(1, 3));
    float want_sq[3] = {1.0f, 4.0f, 9.0f};
    assert_memory_equal(z.data, want_sq, sizeof want_sq);
    cv_tensor_free(&z);
    cv_tensor_destroy(x);
    cv_tensor_destroy(y);
}

/* ---- variadic ops ---------------------------------------------------------------- */

static void test_variadic(void **state)
{
    (void)state;
    float a[3] = {1.0f, -2.0f, 3.0f}, b[2] = {0.5f, 4.0f}, c = -1.0f;
    cv_tensor_t *ta = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(3), a);
    cv_tensor_t *tb = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(2, 1), b);
    cv_tensor_t *tc = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SCALAR, &c);
    const cv_tensor_t *three[3] = {ta, tb, tc};
    const cv_op_t ops[4] = {CV_OP_SUM, CV_OP_MEAN, CV_OP_MIN, CV_OP_MAX};
    for (int k = 0; k < 4; k++) {
        cv_tensor_t out = run_ok(ops[k], NULL, 0, three, 3);
        assert_shape(&out, CV_TEST_SHAPE(2, 3));
        const float *p = out.data;
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) {
                double va = a[j], vb = b[i], vc = c, want;
                switch (ops[k]) {
                case CV_OP_SUM: want = va + vb + vc; break;
                case CV_OP_MEAN: want = (va + vb + vc) / 3; break;
                case CV_OP_MIN: want = fmin(va, fmin(vb, vc)); break;
                default: want = fmax(va, fmax(vb, vc)); break;
                }
                assert_close(p[i * 3 + j], want, 1e-7, i * 3 + j);
            }
        cv_tensor_free(&out);

        const cv_tensor_t *one[1] = {ta};
        out = run_ok(ops[k], NULL, 0, one, 1);
        assert_shape(&out, CV_TEST_SHAPE(3));
        assert_memory_equal(out.data, a, sizeof a);
        cv_tensor_free(&out);
    }

    /* Max and Min propagate NaN from either side. */
    float n1[2] = {NAN, 1.0f}, n2[2] = {2.0f, NAN};
    cv_tensor_t *tn1 = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(2), n1), *tn2 = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(2), n2);
    const cv_tensor_t *nan_ins[2] = {tn1, tn2};
    cv_tensor_t out = run_ok(CV_OP_MAX, NULL, 0, nan_ins, 2);
    assert_true(isnan(((float *)out.data)[0]) && isnan(((float *)out.data)[1]));
    cv_tensor_free(&out);

    int32_t i1[3] = {5, -7, 0}, i2[3] = {4, 9, -1}, i3[3] = {6, 1, 2};
    cv_tensor_t *t1 = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(3), i1), *t2 = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(3), i2),
                *t3 = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(3), i3);
    const cv_tensor_t *ints[3] = {t1, t2, t3};
    out = run_ok(CV_OP_MAX, NULL, 0, ints, 3);
    int32_t max_want[3] = {6, 9, 2};
    assert_memory_equal(out.data, max_want, sizeof max_want);
    cv_tensor_free(&out);
    out = run_ok(CV_OP_SUM, NULL, 0, ints, 3);
    int32_t sum_want[3] = {15, 3, 1};
    assert_memory_equal(out.data, sum_want, sizeof sum_want);
    cv_tensor_free(&out);
    expect_error(CV_OP_MEAN, NULL, 0, ints, 3, CV_STATUS_UNSUPPORTED, "Mean on INT32", NULL);
    expect_error(CV_OP_SUM, NULL, 0, ints, 0, CV_STATUS_INVALID_ARGUMENT, "at least one", NULL);
    const cv_tensor_t *mixed[3] = {t1, t2, ta};
    expect_error(CV_OP_MIN, NULL, 0, mixed, 3, CV_STATUS_INVALID_ARGUMENT, "INT32", "FP32");

    cv_tensor_destroy(t1);
    cv_tensor_destroy(t2);
    cv_tensor_destroy(t3);
    cv_tensor_destroy(tn1);
    cv_tensor_destroy(tn2);
    cv_tensor_destroy(ta);
    cv_tensor_destroy(tb);
    cv_tensor_destroy(tc);
}

/* ---- Equal and Where --------------------------------------------------------------- */

static void test_equal(void **state)
{
    (void)state;
    int32_t a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {1, 5, 6};
    cv_tensor_t *ta = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(2, 3), a), *tb = cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(3), b);
    const cv_tensor_t *ins[2] = {ta, tb};
    cv_tensor_t c = run_ok(CV_OP_EQUAL, NULL, 0, ins, 2);
    assert_int_equal(c.dtype, CV_DTYPE_BOOL);
    uint8_t want[6] = {1, 0, 0, 0, 1, 1};
    assert_memory_equal(c.data, want, sizeof want);
    cv_tensor_free(&c);
    cv_tensor_destroy(ta);
    cv_tensor_destroy(tb);

    float fa[3] = {0.0f, NAN, 1.5f}, fb[3] = {-0.0f, NAN, 1.5f};
    ta = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(3), fa);
    tb = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(3), fb);
    ins[0] = ta, ins[1] = tb;
    c = run_ok(CV_OP_EQUAL, NULL, 0, ins, 2);
    uint8_t fwant[3] = {1, 0, 1};
    assert_memory_equal(c.data, fwant, sizeof fwant);
    cv_tensor_free(&c);
    cv_tensor_destroy(ta);
    cv_tensor_destroy(tb);

    uint8_t ba[4] = {0, 0, 1, 1}, bb[4] = {0, 1, 0, 1};
    ta = cv_test_tensor(CV_DTYPE_BOOL, CV_TEST_SHAPE(4), ba);
    tb = cv_test_tensor(CV_DTYPE_BOOL, CV_TEST_SHAPE(4), bb);
    ins[0] = ta, ins[1] = tb;
    c = run_ok(CV_OP_EQUAL, NULL, 0, ins, 2);
    uint8_t bwant[4] = {1, 0, 0, 1};
    assert_memory_equal(c.data, bwant, sizeof bwant);
    cv_tensor_free(&c);
    cv_tensor_destroy(ta);
    cv_tensor_destroy(tb);
}

static void test_where(void **state)
{
    (void)state;
    uint8_t cond[2] = {1, 0};
    float x[3] = {1.0f, 2.0f, 3.0f}, y = -1.0f;
    cv_tensor_t *tc = cv_test_tensor(CV_DTYPE_BOOL, CV_TEST_SHAPE(2, 1), cond);
    cv_tensor_t *tx = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(1, 3), x);
    cv_tensor_t *ty = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SCALAR, &y);
    const cv_tensor_t *ins[3] = {tc, tx, ty};
    cv_tensor_t z = run_ok(CV_OP_WHERE, NULL, 0, ins, 3);
    assert_shape(&z, CV_TEST_SHAPE(2, 3));
    float want[6] = {1.0f, 2.0f, 3.0f, -1.0f, -1.0f, -1.0f};
    assert_memory_equal(z.data, want, sizeof want);
    cv_tensor_free(&z);

    uint8_t c4[4] = {1, 0, 0, 1};
    int64_t a4[4] = {(1ll << 62) + 1, 2, 3, 4}, b4[4] = {9, 8, 7, -6};
    cv_tensor_t *c = cv_test_tensor(CV_DTYPE_BOOL, CV_TEST_SHAPE(2, 2), c4);
    cv_tensor_t *a = cv_test_tensor(CV_DTYPE_INT64, CV_TEST_SHAPE(2, 2), a4), *b = cv_test_tensor(CV_DTYPE_INT64, CV_TEST_SHAPE(2, 2), b4);
    const cv_tensor_t *lins[3] = {c, a, b};
    z = run_ok(CV_OP_WHERE, NULL, 0, lins, 3);
    int64_t lwant[4] = {(1ll << 62) + 1, 8, 7, 4};
    assert_memory_equal(z.data, lwant, sizeof lwant);
    cv_tensor_free(&z);

    const cv_tensor_t *bad_cond[3] = {a, a, b};
    expect_error(CV_OP_WHERE, NULL, 0, bad_cond, 3, CV_STATUS_INVALID_ARGUMENT, "condition",
                 "BOOL");
    const cv_tensor_t *mixed[3] = {c, a, ty};
    expect_error(CV_OP_WHERE, NULL, 0, mixed, 3, CV_STATUS_INVALID_ARGUMENT, "INT64", "FP32");

    cv_tensor_destroy(c);
    cv_tensor_destroy(a);
    cv_tensor_destroy(b);
    cv_tensor_destroy(tc);
    cv_tensor_destroy(tx);
    cv_tensor_destroy(ty);
}

/* ---- Cast ------------------------------------------------------------------------ */

static cv_tensor_t cast_to(const cv_tensor_t *x, cv_dtype_t to)
{
    cv_attr_t a = attr_i("to", to);
    const cv_tensor_t *ins[1] = {x};
    cv_tensor_t y = run_ok(CV_OP_CAST, &a, 1, ins, 1);
    assert_int_equal(y.dtype, to);
    assert_shape(&y, x->shape);
    return y;
}

static void test_cast_floats(void **state)
{
    (void)state;
    /* FP32 -> BF16 rounds to nearest even (the values of test_cast_FLOAT_to_BFLOAT16). */
    float xs[6] = {0.47892547f, 0.81910545f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, NAN, -INFINITY};
    cv_tensor_t *x = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(6), xs);
    cv_tensor_t b = cast_to(x, CV_DTYPE_BF16);
    uint16_t bwant[6] = {0x3ef5, 0x3f52, 0x3f80, 0x3f82, 0x7fc0, 0xff80};
    assert_memory_equal(b.data, bwant, sizeof bwant);
    cv_tensor_t back = cast_to(&b, CV_DTYPE_FP32);
    const float *pb = back.data;
    assert_true(pb[0] == 0.478515625f && pb[2] == 1.0f && isnan(pb[4]) && pb[5] == -INFINITY);
    cv_tensor_free(&back);
    cv_tensor_free(&b);

    /* FP32 -> FP16 -> FP32 is exact for values FP16 holds. */
    float exact[5] = {0.5f, -1024.0f, 65504.0f, 0x1p-24f, -0.0f};
    cv_tensor_t *e = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(5), exact);
    cv_tensor_t h = cast_to(e, CV_DTYPE_FP16);
    uint16_t hwant[5] = {0x3800, 0xe400, 0x7bff, 0x0001, 0x8000};
    assert_memory_equal(h.data, hwant, sizeof hwant);
    back = cast_to(&h, CV_DTYPE_FP32);
    assert_memory_equal(back.data, exact, sizeof exact);
    cv_tensor_free(&back);
    back = cast_to(&h, CV_DTYPE_FP64);
    assert_true(((double *)back.data)[1] == -1024.0 && ((double *)back.data)[3] == 0x1p-24);
    cv_tensor_free(&back);
    cv_tensor_free(&h);

    /* FP64 -> FP16 rounds once: 1 + 2^-11 + 2^-40 lies above the midpoint
     * between 1 and 1 + 2^-10, though through float it would be a tie. */
    double d[2] = {1.0 + 0x1p-11 + 0x1p-40, 1.0 + 0x1p-11};
    cv_tensor_t *td = cv_test_tensor(CV_DTYPE_FP64, CV_TEST_SHAPE(2), d);
    h = cast_to(td, CV_DTYPE_FP16);
    uint16_t dwant[2] = {0x3c01, 0x3c00};
    assert_memory_equal(h.data, dwant, sizeof dwant);
    cv_tensor_free(&h);
    cv_tensor_destroy(td);
    cv_tensor_destroy(e);
    cv_tensor_destroy(x);
}

static void test_cast_ints(void **state)
{
    (void)state;
    /* float -> int truncates toward zero */
    float f[5] = {-2.7f, 2.7f, -0.5f, 1e3f, -1.0f};
    cv_tensor_t *tf = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(5), f);
    cv_tensor_t i32 = cast_to(tf, CV_DTYPE_INT32);
    int32_t iwant[5] = {-2, 2, 0, 1000, -1};
    assert_memory_equal(i32.data, iwant, sizeof iwant);
    cv_tensor_t u8 = cast_to(tf, CV_DTYPE_UINT8);
    uint8_t u8want[5] = {254, 2, 0, 232, 255}; /* low bits, like a C cast */
    assert_memory_equal(u8.data, u8want, sizeof u8want);
    cv_tensor_t bl = cast_to(tf, CV_DTYPE_BOOL);
    uint8_t blwant[5] = {1, 1, 1, 1, 1};
    assert_memory_equal(bl.data, blwant, sizeof blwant);
    cv_tensor_free(&bl);
    cv_tensor_free(&u8);
    cv_tensor_free(&i32);
    cv_tensor_destroy(tf);

    /* int64 -> uint64 -> int64 round trip, exact past 2^53 */
    int64_t l[4] = {(1ll << 53) + 1, -1, INT64_MAX, INT64_MIN};
    cv_tensor_t *tl = cv_test_tensor(CV_DTYPE_INT64, CV_TEST_SHAPE(4), l);
    cv_tensor_t u = cast_to(tl, CV_DTYPE_UINT64);
    uint64_t uwant[4] = {(1ull << 53) + 1, UINT64_MAX, (uint64_t)INT64_MAX, 1ull << 63};
    assert_memory_equal(u.data, uwant, sizeof uwant);
    cv_tensor_t back = cast_to(&u, CV_DTYPE_INT64);
    assert_memory_equal(back.data, l, sizeof l);
    cv_tensor_free(&back);
    /* uint64 -> FP32 rounds once, to nearest */
    cv_tensor_t fl = cast_to(&u, CV_DTYPE_FP32);
    const float *pf = fl.data;
    assert_true(pf[0] == 0x1p53f && pf[1] == 0x1p64f && pf[3] == 0x1p63f);
    cv_tensor_free(&fl);
    cv_tensor_t i8 = cast_to(&u, CV_DTYPE_INT8);
    int8_t i8want[4] = {1, -1, -1, 0};
    assert_memory_equal(i8.data, i8want, sizeof i8want);
    cv_tensor_free(&i8);
    cv_tensor_free(&u);
    cv_tensor_destroy(tl);

    /* uint8 -> int8 wraps; bool -> float reads 0/1; int16 -> bool */
    uint8_t ub[3] = {200, 0, 127};
    cv_tensor_t *tub = cv_test_tensor(CV_DTYPE_UINT8, CV_TEST_SHAPE(3), ub);
    cv_tensor_t s8 = cast_to(tub, CV_DTYPE_INT8);
    int8_t s8want[3] = {-56, 0, 127};
    assert_memory_equal(s8.data, s8want, sizeof s8want);
    cv_tensor_free(&s8);
    cv_tensor_t bo = cast_to(tub, CV_DTYPE_BOOL);
    uint8_t bowant[3] = {1, 0, 1};
    assert_memory_equal(bo.data, bowant, sizeof bowant);
    cv_tensor_t bf = cast_to(&bo, CV_DTYPE_FP16);
    uint16_t bfwant[3] = {0x3c00, 0, 0x3c00};
    assert_memory_equal(bf.data, bfwant, sizeof bfwant);
    cv_tensor_free(&bf);
    cv_tensor_free(&bo);
    cv_tensor_destroy(tub);
}

static void test_cast_errors(void **state)
{
    (void)state;
    cv_tensor_t *x = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(2), NULL);
    const cv_tensor_t *ins[1] = {x};
    expect_error(CV_OP_CAST, NULL, 0, ins, 1, CV_STATUS_INVALID_ARGUMENT, "attribute to",
                 "required");
    cv_attr_t to_string = attr_i("to", CV_DTYPE_STRING);
    expect_error(CV_OP_CAST, &to_string, 1, ins, 1, CV_STATUS_UNSUPPORTED, "STRING", NULL);
    cv_attr_t to_complex = attr_i("to", 14);
    expect_error(CV_OP_CAST, &to_complex, 1, ins, 1, CV_STATUS_UNSUPPORTED, "14", NULL);
    cv_tensor_destroy(x);
}

/* ---- inference errors -------------------------------------------------------------- */

static void test_infer_errors(void **state)
{
    (void)state;
    cv_tensor_t *f = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(2, 3), NULL);
    cv_tensor_t *l = cv_test_tensor(CV_DTYPE_INT64, CV_TEST_SHAPE(2, 3), NULL);
    cv_tensor_t *f4 = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(4), NULL);
    const cv_tensor_t *mixed[2] = {f, l};
    expect_error(CV_OP_ADD, NULL, 0, mixed, 2, CV_STATUS_INVALID_ARGUMENT, "FP32", "INT64");
    expect_error(CV_OP_EQUAL, NULL, 0, mixed, 2, CV_STATUS_INVALID_ARGUMENT, "FP32", "INT64");
    const cv_tensor_t *shapes[2] = {f, f4};
    expect_error(CV_OP_MUL, NULL, 0, shapes, 2, CV_STATUS_INVALID_ARGUMENT, "[2,3]", "[4]");
    expect_error(CV_OP_SUB, NULL, 0, shapes, 1, CV_STATUS_INVALID_ARGUMENT, "needs 2 inputs",
                 NULL);
    const cv_tensor_t *one[1] = {l};
    expect_error(CV_OP_SIGMOID, NULL, 0, one, 1, CV_STATUS_UNSUPPORTED, "Sigmoid on INT64",
                 NULL);
    const cv_tensor_t *onef[1] = {f};
    cv_attr_t fast = attr_s("approximate", "fast");
    expect_error(CV_OP_GELU, &fast, 1, onef, 1, CV_STATUS_INVALID_ARGUMENT, "approximate",
                 "fast");
    cv_tensor_destroy(f);
    cv_tensor_destroy(l);
    cv_tensor_destroy(f4);
}

/* Nothing allocated by a run outlives the tensors the caller frees. */
static void test_no_leaks(void **state)
{
    (void)state;
    size_t before = cv_alloc_live_bytes();
    check_binary(CV_OP_ADD, CV_DTYPE_FP16, CV_TEST_SHAPE(2, 1, 4), CV_TEST_SHAPE(3, 1), CV_TEST_SHAPE(2, 3, 4), 1e-3);
    check_unary(CV_OP_EXP, CV_DTYPE_BF16, NULL, 0, ref_exp, NULL, false, 8e-3);
    assert_int_equal(cv_alloc_live_bytes(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_table),
        cmocka_unit_test(test_unary_fp32),
        cmocka_unit_test(test_unary_other_floats),
        cmocka_unit_test(test_unary_extremes),
        cmocka_unit_test(test_unary_int),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_binary_broadcast_fp32),
        cmocka_unit_test(test_binary_other_floats),
        cmocka_unit_test(test_prelu),
        cmocka_unit_test(test_int_division),
        cmocka_unit_test(test_uint64_exact),
        cmocka_unit_test(test_int_wrap_and_broadcast),
        cmocka_unit_test(test_pow_types),
        cmocka_unit_test(test_variadic),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_cast_floats),
        cmocka_unit_test(test_cast_ints),
        cmocka_unit_test(test_cast_errors),
        cmocka_unit_test(test_infer_errors),
        cmocka_unit_test(test_no_leaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
