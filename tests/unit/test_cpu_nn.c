/*
 * test_cpu_nn.c: shape inference and CPU kernels of the neural-network ops
 * (src/ir/infer_nn.c, src/backend/cpu/cpu_conv.c, cpu_nn.c), driven through
 * cv_op_args_t as the executor drives them: inference first, then the
 * kernel on outputs of the inferred shapes. Results are compared with naive
 * reference loops written here (in double) over pseudo-random inputs, or
 * with hand-computed values; bad inputs must fail with a status and a
 * message that names what is wrong.
 */
#include "opcase.h"

#include "ir/infer.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- references ------------------------------------------------------- */

static double *ref_alloc(int64_t n)
{
    double *r = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    assert_non_null(r);
    return r;
}

/* ---- Conv ----------------------------------------------------------------- */

/* Direct convolution over 1..3 spatial dims, in double: the definition.
 * pb[] are begin pads (already resolved from auto_pad by the caller). */
typedef struct conv_ref {
    int nd;
    int64_t n, c, m, group;
    int64_t in[3], k[3], s[3], d[3], pb[3], out[3];
    int act; /* 0 none, 1 relu, 2 clip */
    double lo, hi;
} conv_ref_t;

static double *ref_conv(const conv_ref_t *r, const cv_tensor_t *x, const cv_tensor_t *w,
                        const cv_tensor_t *b)
{
    int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1};
    int64_t d[3] = {1, 1, 1}, pb[3] = {0, 0, 0};
    for (int i = 0; i < r->nd; i++) {
        int j = 3 - r->nd + i;
        in[j] = r->in[i], out[j] = r->out[i], k[j] = r->k[i];
        s[j] = r->s[i], d[j] = r->d[i], pb[j] = r->pb[i];
    }
    int64_t cg = r->c / r->group, mg = r->m / r->group;
    int64_t osz = out[0] * out[1] * out[2], isz = in[0] * in[1] * in[2];
    int64_t ksz = k[0] * k[1] * k[2];
    double *y = ref_alloc(r->n * r->m * osz);
    for (int64_t n = 0; n < r->n; n++)
        for (int64_t m = 0; m < r->m; m++)
            for (int64_t o0 = 0; o0 < out[0]; o0++)
                for (int64_t o1 = 0; o1 < out[1]; o1++)
                    for (int64_t o2 = 0; o2 < out[2]; o2++) {
                        double acc = b ? cv_tensor_get_f64(b, m) : 0.0;
                        for (int64_t ci = 0; ci < cg; ci++)
                            for (int64_t k0 = 0; k0 < k[0]; k0++)
                                for (int64_t k1 = 0; k1 < k[1]; k1++)
                                    for (int64_t k2 = 0; k2 < k[2]; k2++) {
                                        int64_t i0 = o0 * s[0] - pb[0] + k0 * d[0];
                                        int64_t i1 = o1 * s[1] - pb[1] + k1 * d[1];
                                        int64_t i2 = o2 * s[2] - pb[2] + k2 * d[2];
                                        if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] ||
                                            i2 < 0 || i2 >= in[2])
                                            continue;
                                        int64_t c = (m / mg) * cg + ci;
                                        int64_t xi =
                                            (n * r->c + c) * isz + (i0 * in[1] + i1) * in[2] + i2;
                                        int64_t wi =
                                            (m * cg + ci) * ksz + (k0 * k[1] + k1) * k[2] + k2;
                                        acc += cv_tensor_get_f64(x, xi) * cv_tensor_get_f64(w, wi);
                                    }
                        if (r->act == 1) acc = fmax(acc, 0.0);
                        if (r->act == 2) acc = fmin(fmax(acc, r->lo), r->hi);
                        y[((n * r->m + m) * out[0] + o0) * out[1] * out[2] + o1 * out[2] + o2] =
                            acc;
                    }
    return y;
}

typedef struct conv_spec {
    int nd;
    int64_t n, c, m, group;
    int64_t in[3], k[3], s[3], d[3];
    int64_t pads[6]; /* begins then ends, when auto_pad is NULL */
    const char *auto_pad;
    bool bias, absent_bias, set_kernel_shape;
    int act;
    float lo, hi;
    cv_dtype_t dtype;
    double tol;
} conv_spec_t;

/* Runs one Conv and compares with ref_conv; the output shape is checked
 * against the ONNX formulas, computed here independently. */
static void check_conv(conv_spec_t sp)
{
    if (!sp.dtype) sp.dtype = CV_DTYPE_FP32;
    if (!sp.tol) sp.tol = 1e-5;
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_CONV, 1);
    int64_t xd[5] = {sp.n, sp.c}, wd[5] = {sp.m, sp.c / sp.group}, bd[1] = {sp.m};
    conv_ref_t r = {.nd = sp.nd,
                    .n = sp.n,
                    .c = sp.c,
                    .m = sp.m,
                    .group = sp.group,
                    .act = sp.act,
                    .lo = sp.lo,
                    .hi = sp.hi};
    int64_t strides[3], dils[3], ks[3];
    for (int i = 0; i < sp.nd; i++) {
        xd[2 + i] = sp.in[i];
        wd[2 + i] = ks[i] = sp.k[i];
        strides[i] = sp.s[i] ? sp.s[i] : 1;
        dils[i] = sp.d[i] ? sp.d[i] : 1;
        r.in[i] = sp.in[i], r.k[i] = sp.k[i], r.s[i] = strides[i], r.d[i] = dils[i];
        int64_t span = (sp.k[i] - 1) * dils[i] + 1;
        if (sp.auto_pad && strncmp(sp.auto_pad, "SAME", 4) == 0) {
            r.out[i] = (sp.in[i] + strides[i] - 1) / strides[i];
            int64_t total = (r.out[i] - 1) * strides[i] + span - sp.in[i];
            if (total < 0) total = 0;
            r.pb[i] = strcmp(sp.auto_pad, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
        } else if (sp.auto_pad) { /* VALID */
            r.out[i] = (sp.in[i] - span) / strides[i] + 1;
            r.pb[i] = 0;
        } else {
            r.out[i] = (sp.in[i] + sp.pads[i] + sp.pads[sp.nd + i] - span) / strides[i] + 1;
            r.pb[i] = sp.pads[i];
        }
    }
    cv_test_add_random(&c, sp.dtype, 2 + sp.nd, xd, 11);
    cv_test_add_random(&c, sp.dtype, 2 + sp.nd, wd, 22);
    if (sp.bias)
        cv_test_add_random(&c, sp.dtype, 1, bd, 33);
    else if (sp.absent_bias)
        cv_test_add_absent(&c);
    cv_test_attr_ints(&c, "strides", strides, sp.nd);
    cv_test_attr_ints(&c, "dilations", dils, sp.nd);
    if (sp.group != 1) cv_test_attr_int(&c, "group", sp.group);
    if (sp.set_kernel_shape) cv_test_attr_ints(&c, "kernel_shape", ks, sp.nd);
    if (sp.auto_pad)
        cv_test_attr_string(&c, "auto_pad", sp.auto_pad);
    else
        cv_test_attr_ints(&c, "pads", sp.pads, 2 * sp.nd);
    if (sp.act == 1) c.node.activation = CV_ACTIVATION_RELU;
    if (sp.act == 2) {
        c.node.activation = CV_ACTIVATION_CLIP;
        c.node.clip_min = sp.lo;
        c.node.clip_max = sp.hi;
    }
    cv_test_run_ok(&c);
    int64_t yd[5] = {sp.n, sp.m};
    for (int i = 0; i < sp.nd; i++) yd[2 + i] = r.out[i];
    cv_test_expect_shape(&c.out[0], 2 + sp.nd, yd);
    assert_int_equal(c.out[0].dtype, sp.dtype);
    double *want = ref_conv(&r, &c.in[0], &c.in[1], sp.bias ? &c.in[2] : NULL);
    cv_test_expect_close(&c.out[0], want, cv_shape_numel(&c.out[0].shape), sp.tol);
    free(want);
    cv_test_case_free(&c);
}

static void test_conv_general(void **state)
{
    (void)state;
    /* groups, padding, bias */
    check_conv((conv_spec_t){.nd = 2,
                             .n = 2,
                             .c = 4,
                             .m = 6,
                             .group = 2,
                             .in = {7, 6},
                             .k = {3, 3},
                             .pads = {1, 1, 1, 1},
                             .bias = true});
    /* strides, asymmetric pads, non-square kernel, kernel_shape given */
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 3,
                             .m = 5,
                             .group = 1,
                             .in = {9, 8},
                             .k = {3, 2},
                             .s = {2, 3},
                             .pads = {0, 2, 1, 0},
                             .bias = true,
                             .set_kernel_shape = true});
    /* stride 2 over wide rows (the vector gather of im2col), with pads */
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 3,
                             .m = 5,
                             .group = 1,
                             .in = {9, 41},
                             .k = {3, 3},
                             .s = {2, 2},
                             .pads = {1, 1, 0, 2},
                             .bias = true});
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 2,
                             .m = 3,
                             .group = 1,
                             .in = {7, 40},
                             .k = {2, 4},
                             .s = {2, 2},
                             .d = {1, 2},
                             .pads = {0, 3, 1, 0}});
    /* an omitted optional B */
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 2,
                             .m = 3,
                             .group = 1,
                             .in = {5, 5},
                             .k = {3, 3},
                             .pads = {1, 1, 1, 1},
                             .absent_bias = true});
    /* dilations */
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 3,
                             .m = 4,
                             .group = 1,
                             .in = {11, 10},
                             .k = {3, 3},
                             .d = {2, 3},
                             .pads = {2, 1, 0, 3}});
    /* 1x1 at stride 2 goes through im2col */
    check_conv((conv_spec_t){.nd = 2,
                             .n = 2,
                             .c = 5,
                             .m = 3,
                             .group = 1,
                             .in = {7, 8},
                             .k = {1, 1},
                             .s = {2, 2},
                             .bias = true});
    /* depthwise with a channel multiplier (not the direct path) */
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 4,
                             .m = 8,
                             .group = 4,
                             .in = {6, 7},
                             .k = {3, 3},
                             .pads = {1, 1, 1, 1},
                             .bias = true});
    /* a band of im2col rows smaller than the output (K*OW*OH > the budget) */
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 64,
                             .m = 4,
                             .group = 1,
                             .in = {64, 64},
                             .k = {3, 3},
                             .pads = {1, 1, 1, 1},
                             .bias = true,
                             .act = 1,
                             .tol = 1e-4});
}

static void test_conv_pointwise(void **state)
{
    (void)state;
    check_conv((conv_spec_t){
        .nd = 2, .n = 2, .c = 16, .m = 8, .group = 1, .in = {5, 7}, .k = {1, 1}, .bias = true});
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 12,
                             .m = 6,
                             .group = 3,
                             .in = {4, 9},
                             .k = {1, 1},
                             .bias = true,
                             .act = 2,
                             .lo = 0.0f,
                             .hi = 0.5f});
    check_conv((conv_spec_t){
        .nd = 2, .n = 1, .c = 24, .m = 40, .group = 1, .in = {13, 13}, .k = {1, 1}, .act = 1});
    /* a 1x1 plane (squeeze-excite): the gemv path */
    check_conv((conv_spec_t){.nd = 2,
                             .n = 2,
                             .c = 24,
                             .m = 8,
                             .group = 2,
                             .in = {1, 1},
                             .k = {1, 1},
                             .bias = true,
                             .act = 1});
}

static void test_conv_depthwise(void **state)
{
    (void)state;
    /* 3x3, stride 1 and 2, symmetric and asymmetric pads; widths chosen so
     * that rows end in partial vectors, and wide enough for full ones. */
    int64_t widths[] = {5, 7, 17, 20, 37};
    for (size_t wi = 0; wi < CV_ARRAY_LEN(widths); wi++) {
        int64_t w = widths[wi];
        for (int64_t s = 1; s <= 2; s++) {
            check_conv((conv_spec_t){.nd = 2,
                                     .n = 2,
                                     .c = 5,
                                     .m = 5,
                                     .group = 5,
                                     .in = {9, w},
                                     .k = {3, 3},
                                     .s = {s, s},
                                     .pads = {1, 1, 1, 1},
                                     .bias = true});
            check_conv((conv_spec_t){.nd = 2,
                                     .n = 1,
                                     .c = 3,
                                     .m = 3,
                                     .group = 3,
                                     .in = {8, w},
                                     .k = {3, 3},
                                     .s = {s, s},
                                     .pads = {0, 1, 1, 0},
                                     .act = 2,
                                     .lo = -0.25f,
                                     .hi = 0.75f});
            check_conv((conv_spec_t){.nd = 2,
                                     .n = 1,
                                     .c = 4,
                                     .m = 4,
                                     .group = 4,
                                     .in = {7, w},
                                     .k = {3, 3},
                                     .s = {s, s},
                                     .auto_pad = "SAME_UPPER",
                                     .bias = true,
                                     .act = 1});
        }
    }
    /* planes smaller than one vector: stores must not run past the output */
    check_conv((conv_spec_t){
        .nd = 2, .n = 1, .c = 3, .m = 3, .group = 3, .in = {3, 3}, .k = {3, 3}, .bias = true});
    check_conv((conv_spec_t){.nd = 2,
                             .n = 2,
                             .c = 2,
                             .m = 2,
                             .group = 2,
                             .in = {4, 3},
                             .k = {3, 3},
                             .s = {2, 2},
                             .pads = {0, 1, 1, 0}});
    /* generic fallback: 5x5, dilation, stride 3 */
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 6,
                             .m = 6,
                             .group = 6,
                             .in = {15, 14},
                             .k = {5, 5},
                             .pads = {2, 2, 2, 2},
                             .bias = true});
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 3,
                             .m = 3,
                             .group = 3,
                             .in = {12, 13},
                             .k = {3, 3},
                             .d = {2, 2},
                             .s = {1, 1},
                             .pads = {2, 2, 2, 2}});
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 3,
                             .m = 3,
                             .group = 3,
                             .in = {12, 13},
                             .k = {3, 2},
                             .s = {3, 2},
                             .pads = {1, 0, 0, 1},
                             .act = 1});
}

static void test_conv_auto_pad(void **state)
{
    (void)state;
    const char *modes[] = {"SAME_UPPER", "SAME_LOWER", "VALID"};
    for (size_t i = 0; i < CV_ARRAY_LEN(modes); i++) {
        /* odd total padding, where UPPER and LOWER differ */
        check_conv((conv_spec_t){.nd = 2,
                                 .n = 1,
                                 .c = 2,
                                 .m = 3,
                                 .group = 1,
                                 .in = {6, 7},
                                 .k = {3, 4},
                                 .s = {2, 1},
                                 .auto_pad = modes[i],
                                 .bias = true});
        check_conv((conv_spec_t){.nd = 2,
                                 .n = 1,
                                 .c = 2,
                                 .m = 2,
                                 .group = 2,
                                 .in = {8, 8},
                                 .k = {3, 3},
                                 .s = {2, 2},
                                 .auto_pad = modes[i]});
        check_conv((conv_spec_t){.nd = 1,
                                 .n = 1,
                                 .c = 2,
                                 .m = 3,
                                 .group = 1,
                                 .in = {10},
                                 .k = {4},
                                 .s = {3},
                                 .d = {2},
                                 .auto_pad = modes[i]});
    }
}

static void test_conv_1d_3d(void **state)
{
    (void)state;
    check_conv((conv_spec_t){.nd = 1,
                             .n = 2,
                             .c = 3,
                             .m = 4,
                             .group = 1,
                             .in = {11},
                             .k = {3},
                             .s = {2},
                             .pads = {1, 2},
                             .bias = true});
    check_conv((conv_spec_t){.nd = 1,
                             .n = 1,
                             .c = 4,
                             .m = 6,
                             .group = 2,
                             .in = {9},
                             .k = {2},
                             .d = {3},
                             .pads = {0, 0},
                             .act = 1});
    check_conv((conv_spec_t){.nd = 1,
                             .n = 1,
                             .c = 4,
                             .m = 4,
                             .group = 4,
                             .in = {9},
                             .k = {3},
                             .pads = {1, 1},
                             .bias = true});
    check_conv((conv_spec_t){.nd = 3,
                             .n = 1,
                             .c = 2,
                             .m = 3,
                             .group = 1,
                             .in = {5, 6, 4},
                             .k = {2, 3, 2},
                             .s = {1, 2, 1},
                             .pads = {1, 1, 0, 0, 1, 1},
                             .bias = true});
    check_conv((conv_spec_t){.nd = 3,
                             .n = 2,
                             .c = 4,
                             .m = 4,
                             .group = 2,
                             .in = {4, 5, 5},
                             .k = {3, 3, 3},
                             .d = {1, 2, 1},
                             .pads = {1, 2, 1, 1, 2, 1},
                             .act = 2,
                             .lo = -0.5f,
                             .hi = 0.5f});
    check_conv((conv_spec_t){.nd = 3,
                             .n = 1,
                             .c = 8,
                             .m = 4,
                             .group = 1,
                             .in = {3, 4, 5},
                             .k = {1, 1, 1},
                             .bias = true});
}

static void test_conv_fp64(void **state)
{
    (void)state;
    check_conv((conv_spec_t){.nd = 2,
                             .n = 1,
                             .c = 4,
                             .m = 4,
                             .group = 2,
                             .in = {6, 5},
                             .k = {3, 3},
                             .s = {2, 1},
                             .pads = {1, 0, 1, 1},
                             .bias = true,
                             .act = 1,
                             .dtype = CV_DTYPE_FP64,
                             .tol = 1e-12});
}

static void test_conv_errors(void **state)
{
    (void)state;
    cv_test_case_t c;
    const int64_t x4[] = {1, 3, 8, 8}, w16[] = {4, 16, 3, 3}, w3[] = {4, 3, 3, 3};
    const int64_t w5d[] = {4, 3, 3, 3, 3}, x2[] = {3, 8};

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, x4, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, w16, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "W has 16 input channels but X has 3 channels");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, x4, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, w16, 2);
    cv_test_attr_int(&c, "group", 3);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT,
                 "W has 16 input channels per group but X has 3 channels");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, x4, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 5, w5d, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "W must have rank 4");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, x2, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, x2, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "X has rank 2");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, x4, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, w3, 2);
    cv_test_attr_string(&c, "auto_pad", "SAME");
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT,
                 "auto_pad 'SAME' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, x4, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, w3, 2);
    const int64_t ks[] = {5, 5};
    cv_test_attr_ints(&c, "kernel_shape", ks, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "kernel_shape[0] is 5 but W has shape [4,3,3,3]");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, x4, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, w3, 2);
    const int64_t st3[] = {1, 1, 1};
    cv_test_attr_ints(&c, "strides", st3, 3);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "strides has 3 entries but 2 are expected");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, x4, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, w3, 2);
    const int64_t st0[] = {1, 0};
    cv_test_attr_ints(&c, "strides", st0, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "strides[1] is 0, must be >= 1");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, x4, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, w3, 2);
    const int64_t bd[] = {5};
    cv_test_add_random(&c, CV_DTYPE_FP32, 1, bd, 3);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "B has shape [5] but W has 4 output channels");
    cv_test_case_free(&c);

    /* kernel larger than the padded input */
    const int64_t xs[] = {1, 3, 2, 2};
    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xs, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, w3, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "smaller than the dilated kernel (3)");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_INT8, 4, x4, 0);
    cv_test_add_random(&c, CV_DTYPE_INT8, 4, w3, 0);
    cv_test_expect_infer_error(&c, CV_STATUS_UNSUPPORTED, "Conv on INT8 (X) is not supported");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONV, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, x4, 1);
    cv_test_add_random(&c, CV_DTYPE_FP64, 4, w3, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "W is FP64 but input 0 is FP32");
    cv_test_case_free(&c);
}

/* Scratch that cannot be allocated is reported, not a crash: each kernel
 * that takes scratch, with the allocation failing. */
static void expect_kernel_oom(cv_test_case_t *c)
{
    assert_int_equal(cv_test_run_infer(c), CV_STATUS_OK);
    for (int i = 0; i < c->nout; i++) {
        cv_shape_t s = c->out[i].shape;
        assert_int_equal(cv_tensor_alloc(&c->out[i], c->out[i].dtype, &s), CV_STATUS_OK);
    }
    cv_alloc_fail_after(1);
    cv_status st = cv_test_run_kernel(c);
    cv_alloc_fail_after(0);
    assert_int_equal(st, CV_STATUS_OUT_OF_MEMORY);
    assert_non_null(strstr(c->err.msg, "out of memory"));
    cv_test_case_free(c);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    const int64_t xd[] = {1, 4, 9, 9}, wd[] = {4, 4, 3, 3}, dwd[] = {4, 1, 3, 3};
    const int64_t k2[] = {2, 2}, sd[] = {2, 3, 4};
    cv_test_case_t c;
    for (int depthwise = 0; depthwise < 2; depthwise++) {
        cv_test_case_init(&c, CV_OP_CONV, 1);
        cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
        cv_test_add_random(&c, CV_DTYPE_FP32, 4, depthwise ? dwd : wd, 2);
        if (depthwise) cv_test_attr_int(&c, "group", 4);
        expect_kernel_oom(&c);
    }
    for (int is_max = 0; is_max < 2; is_max++) {
        cv_test_case_init(&c, is_max ? CV_OP_MAX_POOL : CV_OP_AVERAGE_POOL, 1);
        cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
        cv_test_attr_ints(&c, "kernel_shape", k2, 2);
        expect_kernel_oom(&c);
    }
    cv_test_case_init(&c, CV_OP_SOFTMAX, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 3, sd, 1);
    expect_kernel_oom(&c);
    cv_test_case_init(&c, CV_OP_LRN, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
    cv_test_attr_int(&c, "size", 3);
    expect_kernel_oom(&c);
    cv_test_case_init(&c, CV_OP_LAYER_NORMALIZATION, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 3, sd, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 1, (const int64_t[]){4}, 2);
    expect_kernel_oom(&c);
}

/* ---- pools ----------------------------------------------------------------- */

typedef struct pool_spec {
    cv_op_t op;
    int nd;
    int64_t n, c;
    int64_t in[3], k[3], s[3], d[3];
    int64_t pads[6];
    const char *auto_pad;
    bool ceil_mode, count_include_pad, indices, col_major, set_dilations;
    const int64_t *want_out; /* expected spatial output dims, or NULL */
} pool_spec_t;

/* Pooling by the definition: every tap of the window, skipping those
 * outside the input; count_include_pad counts taps inside input+pads. */
static void check_pool(pool_spec_t sp)
{
    cv_test_case_t c;
    bool is_max = sp.op == CV_OP_MAX_POOL;
    cv_test_case_init(&c, sp.op, is_max && sp.indices ? 2 : 1);
    int64_t xd[5] = {sp.n, sp.c}, strides[3], dils[3];
    for (int i = 0; i < sp.nd; i++) {
        xd[2 + i] = sp.in[i];
        strides[i] = sp.s[i] ? sp.s[i] : 1;
        dils[i] = sp.d[i] ? sp.d[i] : 1;
    }
    cv_test_add_random(&c, CV_DTYPE_FP32, 2 + sp.nd, xd, 44);
    cv_test_attr_ints(&c, "kernel_shape", sp.k, sp.nd);
    cv_test_attr_ints(&c, "strides", strides, sp.nd);
    if (sp.set_dilations) cv_test_attr_ints(&c, "dilations", dils, sp.nd);
    if (sp.auto_pad)
        cv_test_attr_string(&c, "auto_pad", sp.auto_pad);
    else
        cv_test_attr_ints(&c, "pads", sp.pads, 2 * sp.nd);
    if (sp.ceil_mode) cv_test_attr_int(&c, "ceil_mode", 1);
    if (sp.count_include_pad) cv_test_attr_int(&c, "count_include_pad", 1);
    if (sp.col_major) cv_test_attr_int(&c, "storage_order", 1);
    cv_test_run_ok(&c);

    /* Output size and pads, by the ONNX formulas. */
    int64_t out[3] = {1, 1, 1}, in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1};
    int64_t d[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
    for (int i = 0; i < sp.nd; i++) {
        int j = 3 - sp.nd + i;
        in[j] = sp.in[i], k[j] = sp.k[i], s[j] = strides[i], d[j] = dils[i];
        int64_t span = (k[j] - 1) * d[j] + 1;
        if (sp.auto_pad && strncmp(sp.auto_pad, "SAME", 4) == 0) {
            out[j] = (in[j] + s[j] - 1) / s[j];
            int64_t total = CV_MAX(0, (out[j] - 1) * s[j] + span - in[j]);
            pb[j] = strcmp(sp.auto_pad, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
            pe[j] = total - pb[j];
        } else {
            if (!sp.auto_pad) pb[j] = sp.pads[i], pe[j] = sp.pads[sp.nd + i];
            double o = (double)(in[j] + pb[j] + pe[j] - span) / (double)s[j] + 1.0;
            out[j] = sp.ceil_mode ? (int64_t)ceil(o) : (int64_t)floor(o);
            if (sp.ceil_mode && (out[j] - 1) * s[j] >= in[j] + pb[j]) out[j]--;
        }
        if (sp.want_out) assert_int_equal(out[j], sp.want_out[i]);
    }
    int64_t yd[5] = {sp.n, sp.c};
    for (int i = 0; i < sp.nd; i++) yd[2 + i] = out[3 - sp.nd + i];
    cv_test_expect_shape(&c.out[0], 2 + sp.nd, yd);

    int64_t planes = sp.n * sp.c, isz = in[0] * in[1] * in[2], osz = out[0] * out[1] * out[2];
    double *want = ref_alloc(planes * osz);
    int64_t *want_idx = calloc((size_t)(planes * osz), sizeof(int64_t));
    const float *x = c.in[0].data;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t o = 0; o < osz; o++) {
            int64_t oi[3] = {o / (out[1] * out[2]), o / out[2] % out[1], o % out[2]};
            double best = -INFINITY, sum = 0.0;
            int64_t count = 0, padded = 0, at = -1;
            for (int64_t t = 0; t < k[0] * k[1] * k[2]; t++) {
                int64_t ki[3] = {t / (k[1] * k[2]), t / k[2] % k[1], t % k[2]}, ii[3];
                bool inside = true, in_padded = true;
                for (int j = 0; j < 3; j++) {
                    ii[j] = oi[j] * s[j] - pb[j] + ki[j] * d[j];
                    inside = inside && ii[j] >= 0 && ii[j] < in[j];
                    in_padded = in_padded && ii[j] < in[j] + pe[j];
                }
                padded += in_padded;
                if (!inside) continue;
                double v = x[p * isz + (ii[0] * in[1] + ii[1]) * in[2] + ii[2]];
                count++;
                sum += v;
                if (v > best) {
                    best = v;
                    at = sp.col_major ? ii[0] + ii[1] * in[0] + ii[2] * in[0] * in[1]
                                      : (ii[0] * in[1] + ii[1]) * in[2] + ii[2];
                }
            }
            if (is_max)
                want[p * osz + o] = best;
            else
                want[p * osz + o] = sum / (double)(sp.count_include_pad ? padded : count);
            want_idx[p * osz + o] = p * isz + at;
        }
    cv_test_expect_close(&c.out[0], want, planes * osz, 1e-5);
    if (is_max && sp.indices) {
        assert_int_equal(c.out[1].dtype, CV_DTYPE_INT64);
        cv_test_expect_shape(&c.out[1], 2 + sp.nd, yd);
        for (int64_t i = 0; i < planes * osz; i++)
            assert_int_equal(((int64_t *)c.out[1].data)[i], want_idx[i]);
    }
    free(want);
    free(want_idx);
    cv_test_case_free(&c);
}

static void test_max_pool(void **state)
{
    (void)state;
    /* 3x3 stride 2 with ceil_mode (SqueezeNet), odd and even sizes */
    const int64_t o1[] = {5, 4};
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 2,
                             .n = 2,
                             .c = 3,
                             .in = {10, 9},
                             .k = {3, 3},
                             .s = {2, 2},
                             .ceil_mode = true,
                             .want_out = o1});
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 2,
                             .n = 1,
                             .c = 2,
                             .in = {11, 11},
                             .k = {3, 3},
                             .s = {2, 2},
                             .pads = {1, 1, 1, 1}});
    /* pads, dilations, ceil_mode together */
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 2,
                             .n = 1,
                             .c = 2,
                             .in = {9, 10},
                             .k = {2, 3},
                             .s = {2, 1},
                             .d = {2, 2},
                             .set_dilations = true,
                             .pads = {1, 0, 1, 2},
                             .ceil_mode = true});
    /* indices, row- and column-major */
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 2,
                             .n = 2,
                             .c = 3,
                             .in = {7, 6},
                             .k = {3, 2},
                             .s = {2, 2},
                             .pads = {1, 0, 1, 1},
                             .indices = true});
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 2,
                             .n = 2,
                             .c = 2,
                             .in = {5, 6},
                             .k = {2, 2},
                             .s = {2, 2},
                             .indices = true,
                             .col_major = true});
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 3,
                             .n = 1,
                             .c = 2,
                             .in = {4, 5, 3},
                             .k = {2, 2, 2},
                             .indices = true,
                             .col_major = true});
    /* 1-D and 3-D */
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 1,
                             .n = 2,
                             .c = 3,
                             .in = {17},
                             .k = {4},
                             .s = {3},
                             .pads = {2, 1},
                             .indices = true});
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 3,
                             .n = 1,
                             .c = 2,
                             .in = {9, 8, 7},
                             .k = {3, 2, 3},
                             .s = {2, 2, 2},
                             .d = {2, 1, 1},
                             .set_dilations = true,
                             .ceil_mode = true});
    /* auto_pad */
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 2,
                             .n = 1,
                             .c = 2,
                             .in = {8, 7},
                             .k = {3, 2},
                             .s = {2, 2},
                             .auto_pad = "SAME_UPPER"});
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 2,
                             .n = 1,
                             .c = 2,
                             .in = {8, 7},
                             .k = {3, 2},
                             .s = {2, 2},
                             .auto_pad = "SAME_LOWER"});
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 2,
                             .n = 1,
                             .c = 2,
                             .in = {8, 7},
                             .k = {3, 2},
                             .s = {2, 2},
                             .auto_pad = "VALID"});
    /* wide rows (full vectors and a partial one), stride 1, 2 and 3, 1-D */
    for (int64_t st = 1; st <= 3; st++) {
        check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                                 .nd = 2,
                                 .n = 2,
                                 .c = 3,
                                 .in = {9, 45},
                                 .k = {3, 3},
                                 .s = {st, st},
                                 .pads = {1, 1, 0, 1},
                                 .ceil_mode = true});
        check_pool((pool_spec_t){.op = CV_OP_AVERAGE_POOL,
                                 .nd = 2,
                                 .n = 1,
                                 .c = 3,
                                 .in = {8, 38},
                                 .k = {2, 3},
                                 .s = {st, st},
                                 .d = {1, 2},
                                 .set_dilations = true,
                                 .pads = {1, 2, 1, 1},
                                 .count_include_pad = st != 2,
                                 .ceil_mode = st == 3});
        check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                                 .nd = 1,
                                 .n = 1,
                                 .c = 4,
                                 .in = {50},
                                 .k = {5},
                                 .s = {st},
                                 .pads = {2, 2}});
    }
    /* ONNX: a ceil_mode window that would start in the end padding is dropped */
    const int64_t o2[] = {1, 1};
    check_pool((pool_spec_t){.op = CV_OP_MAX_POOL,
                             .nd = 2,
                             .n = 1,
                             .c = 1,
                             .in = {2, 2},
                             .k = {1, 1},
                             .s = {2, 2},
                             .ceil_mode = true,
                             .want_out = o2});
}

static void test_average_pool(void **state)
{
    (void)state;
    for (int cip = 0; cip < 2; cip++) {
        check_pool((pool_spec_t){.op = CV_OP_AVERAGE_POOL,
                                 .nd = 2,
                                 .n = 2,
                                 .c = 3,
                                 .in = {9, 8},
                                 .k = {3, 3},
                                 .s = {2, 2},
                                 .pads = {1, 1, 1, 1},
                                 .count_include_pad = cip});
        check_pool((pool_spec_t){.op = CV_OP_AVERAGE_POOL,
                                 .nd = 2,
                                 .n = 1,
                                 .c = 2,
                                 .in = {10, 9},
                                 .k = {3, 2},
                                 .s = {3, 2},
                                 .pads = {1, 0, 2, 1},
                                 .ceil_mode = true,
                                 .count_include_pad = cip});
        check_pool((pool_spec_t){.op = CV_OP_AVERAGE_POOL,
                                 .nd = 3,
                                 .n = 1,
                                 .c = 1,
                                 .in = {12, 11, 10},
                                 .k = {3, 3, 2},
                                 .s = {3, 3, 3},
                                 .d = {2, 2, 2},
                                 .set_dilations = true,
                                 .ceil_mode = true,
                                 .count_include_pad = cip});
        check_pool((pool_spec_t){.op = CV_OP_AVERAGE_POOL,
                                 .nd = 1,
                                 .n = 2,
                                 .c = 2,
                                 .in = {13},
                                 .k = {3},
                                 .s = {2},
                                 .pads = {1, 2},
                                 .count_include_pad = cip});
        check_pool((pool_spec_t){.op = CV_OP_AVERAGE_POOL,
                                 .nd = 2,
                                 .n = 1,
                                 .c = 2,
                                 .in = {7, 8},
                                 .k = {2, 3},
                                 .s = {2, 2},
                                 .auto_pad = cip ? "SAME_LOWER" : "SAME_UPPER",
                                 .count_include_pad = cip});
    }
    /* averagepool_2d_ceil_last_window_starts_on_pad: the window over pad,
     * x[0][0], x[0][1] ... counts 9 taps with count_include_pad. */
    const int64_t o1[] = {1, 1};
    check_pool((pool_spec_t){.op = CV_OP_AVERAGE_POOL,
                             .nd = 2,
                             .n = 1,
                             .c = 3,
                             .in = {2, 2},
                             .k = {3, 3},
                             .s = {3, 3},
                             .pads = {1, 1, 1, 1},
                             .ceil_mode = true,
                             .count_include_pad = true,
                             .want_out = o1});
    cv_test_case_t c;
    const int64_t xd[] = {1, 1, 2, 2};
    const float xv[] = {1, 2, 3, 4};
    cv_test_case_init(&c, CV_OP_AVERAGE_POOL, 1);
    cv_test_add_f32(&c, 4, xd, xv);
    const int64_t k3[] = {3, 3}, p1[] = {1, 1, 1, 1};
    cv_test_attr_ints(&c, "kernel_shape", k3, 2);
    cv_test_attr_ints(&c, "strides", k3, 2);
    cv_test_attr_ints(&c, "pads", p1, 4);
    cv_test_attr_int(&c, "ceil_mode", 1);
    cv_test_attr_int(&c, "count_include_pad", 1);
    cv_test_run_ok(&c);
    assert_float_equal(((float *)c.out[0].data)[0], 10.0f / 9.0f, 1e-6);
    cv_test_case_free(&c);
}

static void test_global_pools(void **state)
{
    (void)state;
    const int64_t xd[] = {2, 3, 4, 5}, yd[] = {2, 3, 1, 1};
    for (int is_max = 0; is_max < 2; is_max++) {
        cv_test_case_t c;
        cv_test_case_init(&c, is_max ? CV_OP_GLOBAL_MAX_POOL : CV_OP_GLOBAL_AVERAGE_POOL, 1);
        cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 5);
        cv_test_run_ok(&c);
        cv_test_expect_shape(&c.out[0], 4, yd);
        double want[6];
        const float *x = c.in[0].data;
        for (int p = 0; p < 6; p++) {
            double acc = is_max ? -INFINITY : 0.0;
            for (int i = 0; i < 20; i++)
                acc = is_max ? fmax(acc, x[p * 20 + i]) : acc + x[p * 20 + i];
            want[p] = is_max ? acc : acc / 20.0;
        }
        cv_test_expect_close(&c.out[0], want, 6, 1e-6);
        cv_test_case_free(&c);
    }
    /* 1-D and 3-D spatial */
    const int64_t x3[] = {1, 2, 7}, x5[] = {1, 2, 2, 3, 2}, y5[] = {1, 2, 1, 1, 1};
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_GLOBAL_AVERAGE_POOL, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 5, x5, 6);
    cv_test_run_ok(&c);
    cv_test_expect_shape(&c.out[0], 5, y5);
    cv_test_case_free(&c);
    cv_test_case_init(&c, CV_OP_GLOBAL_MAX_POOL, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 3, x3, 6);
    cv_test_run_ok(&c);
    assert_int_equal(c.out[0].shape.dims[2], 1);
    cv_test_case_free(&c);
}

static void test_pool_errors(void **state)
{
    (void)state;
    cv_test_case_t c;
    const int64_t xd[] = {1, 2, 6, 6}, k2[] = {2, 2}, k3[] = {3, 3, 3}, big[] = {2, 2, 2, 2};

    cv_test_case_init(&c, CV_OP_MAX_POOL, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "kernel_shape is required");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_MAX_POOL, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
    cv_test_attr_ints(&c, "kernel_shape", k3, 3);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT,
                 "kernel_shape has 3 entries but X has 2 spatial dims");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_AVERAGE_POOL, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
    cv_test_attr_ints(&c, "kernel_shape", k2, 2);
    cv_test_attr_string(&c, "auto_pad", "same_upper");
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "auto_pad 'same_upper' is not one of");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_AVERAGE_POOL, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
    cv_test_attr_ints(&c, "kernel_shape", k2, 2);
    cv_test_attr_ints(&c, "pads", big, 4);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "must be smaller than the dilated kernel");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_MAX_POOL, 1);
    cv_test_add_random(&c, CV_DTYPE_INT8, 4, xd, 0);
    cv_test_attr_ints(&c, "kernel_shape", k2, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_UNSUPPORTED, "MaxPool on INT8 (X) is not supported");
    cv_test_case_free(&c);

    const int64_t x2[] = {2, 6};
    cv_test_case_init(&c, CV_OP_GLOBAL_AVERAGE_POOL, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, x2, 1);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "X has rank 2");
    cv_test_case_free(&c);
}

/* ---- Gemm, MatMul ----------------------------------------------------------- */

static void check_gemm(int64_t m, int64_t n, int64_t k, bool ta, bool tb, int c_ndim,
                       const int64_t *c_dims, float alpha, float beta, int act)
{
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_GEMM, 1);
    int64_t ad[2] = {ta ? k : m, ta ? m : k}, bd[2] = {tb ? n : k, tb ? k : n};
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, ad, 7);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, bd, 8);
    if (c_ndim >= 0) cv_test_add_random(&c, CV_DTYPE_FP32, c_ndim, c_dims, 9);
    if (ta) cv_test_attr_int(&c, "transA", 1);
    if (tb) cv_test_attr_int(&c, "transB", 1);
    if (alpha != 1.0f) cv_test_attr_float(&c, "alpha", alpha);
    if (beta != 1.0f) cv_test_attr_float(&c, "beta", beta);
    if (act) c.node.activation = CV_ACTIVATION_RELU;
    cv_test_run_ok(&c);
    const int64_t yd[] = {m, n};
    cv_test_expect_shape(&c.out[0], 2, yd);
    double *want = ref_alloc(m * n);
    const float *a = c.in[0].data, *b = c.in[1].data;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (int64_t t = 0; t < k; t++)
                acc += (double)(ta ? a[t * m + i] : a[i * k + t]) *
                       (double)(tb ? b[j * k + t] : b[t * n + j]);
            acc *= alpha;
            if (c_ndim >= 0) {
                const float *cv = c.in[2].data;
                int64_t cm = c_ndim == 2 ? c_dims[0] : 1, cn = c_ndim >= 1 ? c_dims[c_ndim - 1] : 1;
                acc += beta * cv[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
            }
            if (act) acc = fmax(acc, 0.0);
            want[i * n + j] = acc;
        }
    cv_test_expect_close(&c.out[0], want, m * n, 1e-5);
    free(want);
    cv_test_case_free(&c);
}

static void test_gemm(void **state)
{
    (void)state;
    const int64_t cn[] = {5}, c1n[] = {1, 5}, cm1[] = {3, 1}, cmn[] = {3, 5}, c1[] = {1};
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        check_gemm(3, 5, 4, ta, tb, 1, cn, 1.0f, 1.0f, 0);
        check_gemm(3, 5, 4, ta, tb, 2, c1n, 0.25f, 0.35f, 0);
        check_gemm(3, 5, 4, ta, tb, 2, cm1, 1.0f, 2.0f, 1);
        check_gemm(3, 5, 4, ta, tb, 2, cmn, -1.5f, 1.0f, 0);
        check_gemm(3, 5, 4, ta, tb, 0, NULL, 1.0f, 0.5f, 0);
        check_gemm(3, 5, 4, ta, tb, 1, c1, 1.0f, 1.0f, 0);
        check_gemm(3, 5, 4, ta, tb, -1, NULL, 0.5f, 1.0f, 1);
    }
    check_gemm(17, 33, 65, false, true, 1, (const int64_t[]){33}, 1.0f, 1.0f, 1);
    /* one row or one column: the gemv path */
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        check_gemm(1, 37, 20, ta, tb, 1, (const int64_t[]){37}, 0.5f, 2.0f, 1);
        check_gemm(1, 37, 20, ta, tb, -1, NULL, 1.0f, 1.0f, 0);
        check_gemm(23, 1, 20, ta, tb, 2, (const int64_t[]){23, 1}, 1.5f, -1.0f, 0);
        check_gemm(23, 1, 20, ta, tb, 0, NULL, 1.0f, 0.0f, 0);
        check_gemm(1, 1, 9, ta, tb, 0, NULL, 1.0f, 1.0f, 0);
    }
}

static void test_gemm_errors(void **state)
{
    (void)state;
    cv_test_case_t c;
    const int64_t a[] = {3, 4}, b[] = {5, 6}, b3[] = {2, 4, 5}, cbad[] = {4};
    cv_test_case_init(&c, CV_OP_GEMM, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, a, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, b, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "inner dims 4 and 5 differ");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_GEMM, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, a, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 3, b3, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "B has shape [2,4,5]; Gemm needs a matrix");
    cv_test_case_free(&c);

    const int64_t b45[] = {4, 5};
    cv_test_case_init(&c, CV_OP_GEMM, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, a, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, b45, 2);
    cv_test_add_random(&c, CV_DTYPE_FP32, 1, cbad, 3);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT,
                 "C has shape [4], which does not broadcast to [3,5]");
    cv_test_case_free(&c);
}

/* MatMul against a numpy-semantics reference; dims as numpy gives them. */
static void check_matmul(int ra, const int64_t *ad, int rb, const int64_t *bd, int ry,
                         const int64_t *yd, cv_dtype_t dt)
{
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_MATMUL, 1);
    cv_test_add_random(&c, dt, ra, ad, 3);
    cv_test_add_random(&c, dt, rb, bd, 4);
    cv_test_run_ok(&c);
    cv_test_expect_shape(&c.out[0], ry, yd);
    /* Promote to >= 2-D and left-pad batch dims to a common rank. */
    int64_t a2[CV_MAX_DIMS], b2[CV_MAX_DIMS];
    int na = ra == 1 ? 2 : ra, nb = rb == 1 ? 2 : rb;
    for (int i = 0; i < ra; i++) a2[(ra == 1 ? 1 : 0) + i] = ad[i];
    if (ra == 1) a2[0] = 1;
    for (int i = 0; i < rb; i++) b2[i] = bd[i];
    if (rb == 1) b2[1] = 1;
    int nbatch = CV_MAX(na, nb) - 2;
    int64_t m = a2[na - 2], k = a2[na - 1], n = b2[nb - 1];
    int64_t bshape[CV_MAX_DIMS], total = 1;
    for (int i = 0; i < nbatch; i++) {
        int ia = i - (nbatch - (na - 2)), ib = i - (nbatch - (nb - 2));
        int64_t da = ia >= 0 ? a2[ia] : 1, db = ib >= 0 ? b2[ib] : 1;
        bshape[i] = CV_MAX(da, db);
        total *= bshape[i];
    }
    double *want = ref_alloc(total * m * n);
    for (int64_t t = 0; t < total; t++) {
        int64_t oa = 0, ob = 0, rem = t, stride_a = 1, stride_b = 1;
        for (int i = nbatch - 1; i >= 0; i--) {
            int64_t idx = rem % bshape[i];
            rem /= bshape[i];
            int ia = i - (nbatch - (na - 2)), ib = i - (nbatch - (nb - 2));
            if (ia >= 0) {
                oa += (a2[ia] == 1 ? 0 : idx) * stride_a;
                stride_a *= a2[ia];
            }
            if (ib >= 0) {
                ob += (b2[ib] == 1 ? 0 : idx) * stride_b;
                stride_b *= b2[ib];
            }
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0.0;
                for (int64_t q = 0; q < k; q++)
                    acc += cv_tensor_get_f64(&c.in[0], oa * m * k + i * k + q) *
                           cv_tensor_get_f64(&c.in[1], ob * k * n + q * n + j);
                want[(t * m + i) * n + j] = acc;
            }
    }
    cv_test_expect_close(&c.out[0], want, total * m * n, dt == CV_DTYPE_FP64 ? 1e-12 : 1e-5);
    free(want);
    cv_test_case_free(&c);
}

static void test_matmul(void **state)
{
    (void)state;
    check_matmul(2, (const int64_t[]){3, 4}, 2, (const int64_t[]){4, 5}, 2, (const int64_t[]){3, 5},
                 CV_DTYPE_FP32);
    /* broadcast batch dims both ways */
    check_matmul(4, (const int64_t[]){3, 1, 2, 4}, 3, (const int64_t[]){2, 4, 5}, 4,
                 (const int64_t[]){3, 2, 2, 5}, CV_DTYPE_FP32);
    check_matmul(3, (const int64_t[]){1, 3, 4}, 4, (const int64_t[]){2, 3, 4, 2}, 4,
                 (const int64_t[]){2, 3, 3, 2}, CV_DTYPE_FP32);
    /* B shared by every batch: one stacked GEMM */
    check_matmul(3, (const int64_t[]){2, 3, 4}, 2, (const int64_t[]){4, 5}, 3,
                 (const int64_t[]){2, 3, 5}, CV_DTYPE_FP32);
    check_matmul(3, (const int64_t[]){2, 3, 4}, 3, (const int64_t[]){1, 4, 5}, 3,
                 (const int64_t[]){2, 3, 5}, CV_DTYPE_FP32);
    /* 1-D operands */
    check_matmul(1, (const int64_t[]){4}, 3, (const int64_t[]){2, 4, 3}, 2, (const int64_t[]){2, 3},
                 CV_DTYPE_FP32);
    check_matmul(3, (const int64_t[]){2, 3, 4}, 1, (const int64_t[]){4}, 2, (const int64_t[]){2, 3},
                 CV_DTYPE_FP32);
    check_matmul(1, (const int64_t[]){6}, 1, (const int64_t[]){6}, 0, NULL, CV_DTYPE_FP32);
    check_matmul(3, (const int64_t[]){2, 3, 4}, 3, (const int64_t[]){2, 4, 2}, 3,
                 (const int64_t[]){2, 3, 2}, CV_DTYPE_FP64);
}

static void test_matmul_errors(void **state)
{
    (void)state;
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_MATMUL, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, (const int64_t[]){3, 4}, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, (const int64_t[]){3, 4}, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "A's 4 columns do not match B's 3 rows");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_MATMUL, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 3, (const int64_t[]){2, 3, 4}, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 3, (const int64_t[]){3, 4, 3}, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "batch dims do not broadcast");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_MATMUL, 1);
    cv_test_add_random(&c, CV_DTYPE_INT32, 2, (const int64_t[]){3, 4}, 1);
    cv_test_add_random(&c, CV_DTYPE_INT32, 2, (const int64_t[]){4, 3}, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_UNSUPPORTED, "MatMul on INT32 (A) is not supported");
    cv_test_case_free(&c);
}

/* ---- BatchNormalization, LRN, LayerNormalization ----------------------------- */

static void test_batch_normalization(void **state)
{
    (void)state;
    cv_test_case_t c;
    const int64_t xd[] = {2, 3, 4, 5}, cd[] = {3};
    cv_test_case_init(&c, CV_OP_BATCH_NORMALIZATION, 3);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 1, cd, 2);
    cv_test_add_random(&c, CV_DTYPE_FP32, 1, cd, 3);
    cv_test_add_random(&c, CV_DTYPE_FP32, 1, cd, 4);
    cv_tensor_t *var = cv_test_add_random(&c, CV_DTYPE_FP32, 1, cd, 5);
    for (int i = 0; i < 3; i++) ((float *)var->data)[i] = fabsf(((float *)var->data)[i]) + 0.1f;
    cv_test_attr_float(&c, "epsilon", 0.01f);
    cv_test_run_ok(&c);
    cv_test_expect_shape(&c.out[0], 4, xd);
    cv_test_expect_shape(&c.out[1], 1, cd);
    cv_test_expect_shape(&c.out[2], 1, cd);
    double want[120];
    const float *x = c.in[0].data, *sc = c.in[1].data, *b = c.in[2].data, *mean = c.in[3].data;
    const float *v = c.in[4].data;
    for (int i = 0; i < 120; i++) {
        int ch = i / 20 % 3;
        want[i] = sc[ch] * (x[i] - mean[ch]) / sqrt(v[ch] + (double)0.01f) + b[ch];
    }
    cv_test_expect_close(&c.out[0], want, 120, 1e-5);
    for (int i = 0; i < 3; i++) {
        assert_float_equal(((float *)c.out[1].data)[i], mean[i], 0);
        assert_float_equal(((float *)c.out[2].data)[i], v[i], 0);
    }
    cv_test_case_free(&c);

    /* opset 7 spatial=0: statistics per element of [C, H] */
    const int64_t x3[] = {2, 3, 4}, ch[] = {3, 4};
    cv_test_case_init(&c, CV_OP_BATCH_NORMALIZATION, 1);
    c.node.opset = 7;
    cv_test_add_random(&c, CV_DTYPE_FP32, 3, x3, 1);
    for (int i = 0; i < 4; i++) cv_test_add_random(&c, CV_DTYPE_FP32, 2, ch, 10 + i);
    for (int i = 0; i < 12; i++) ((float *)c.in[4].data)[i] = 1.0f + (float)i;
    cv_test_attr_int(&c, "spatial", 0);
    cv_test_run_ok(&c);
    double want3[24];
    x = c.in[0].data, sc = c.in[1].data, b = c.in[2].data, mean = c.in[3].data, v = c.in[4].data;
    for (int i = 0; i < 24; i++) {
        int e = i % 12;
        want3[i] = sc[e] * (x[i] - mean[e]) / sqrt(v[e] + 1e-5) + b[e];
    }
    cv_test_expect_close(&c.out[0], want3, 24, 1e-5);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_BATCH_NORMALIZATION, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
    for (int i = 0; i < 4; i++) cv_test_add_random(&c, CV_DTYPE_FP32, 1, i == 2 ? (const int64_t[]){4} : cd, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "input_mean has shape [4] but X has 3 channels");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_BATCH_NORMALIZATION, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
    for (int i = 0; i < 4; i++) cv_test_add_random(&c, CV_DTYPE_FP32, 1, cd, 2);
    cv_test_attr_int(&c, "training_mode", 1);
    cv_test_expect_infer_error(&c, CV_STATUS_UNSUPPORTED, "training_mode=1 is not supported");
    cv_test_case_free(&c);
}

static void test_lrn(void **state)
{
    (void)state;
    const int64_t sizes[] = {3, 4, 5};
    const float betas[] = {0.6f, 0.75f, 0.5f};
    for (size_t si = 0; si < CV_ARRAY_LEN(sizes); si++) {
        int64_t size = sizes[si];
        float beta = betas[si];
        cv_test_case_t c;
        const int64_t xd[] = {2, 6, 3, 4};
        cv_test_case_init(&c, CV_OP_LRN, 1);
        cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 3);
        cv_test_attr_int(&c, "size", size);
        cv_test_attr_float(&c, "alpha", 0.02f);
        cv_test_attr_float(&c, "beta", beta);
        cv_test_attr_float(&c, "bias", 1.5f);
        cv_test_run_ok(&c);
        double want[144];
        const float *x = c.in[0].data;
        for (int i = 0; i < 144; i++) {
            int n = i / 72, ch = i / 12 % 6, p = i % 12;
            double sq = 0.0;
            for (int64_t cc = ch - (size - 1) / 2; cc <= ch + size / 2; cc++) {
                if (cc < 0 || cc >= 6) continue;
                double v = x[n * 72 + cc * 12 + p];
                sq += v * v;
            }
            want[i] = x[i] / pow(1.5 + 0.02 / (double)size * sq, beta);
        }
        cv_test_expect_close(&c.out[0], want, 144, 1e-5);
        cv_test_case_free(&c);
    }
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_LRN, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, (const int64_t[]){1, 2, 2, 2}, 1);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "size is required");
    cv_test_case_free(&c);
}

static void check_layer_norm(int r, const int64_t *xd, int64_t axis, int rs, const int64_t *sd,
                             bool bias)
{
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_LAYER_NORMALIZATION, 3);
    cv_test_add_random(&c, CV_DTYPE_FP32, r, xd, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, rs, sd, 2);
    if (bias) cv_test_add_random(&c, CV_DTYPE_FP32, rs, sd, 3);
    cv_test_attr_int(&c, "axis", axis);
    cv_test_attr_float(&c, "epsilon", 0.05f);
    cv_test_run_ok(&c);
    int ax = (int)(axis < 0 ? axis + r : axis);
    int64_t outer = 1, inner = 1, rd[CV_MAX_DIMS];
    for (int i = 0; i < r; i++) {
        if (i < ax)
            outer *= xd[i];
        else
            inner *= xd[i];
        rd[i] = i < ax ? xd[i] : 1;
    }
    cv_test_expect_shape(&c.out[0], r, xd);
    cv_test_expect_shape(&c.out[1], r, rd);
    cv_test_expect_shape(&c.out[2], r, rd);
    /* Scale/B index for element j of the normalized part, by broadcasting. */
    int64_t ns = inner, nsd = r - ax;
    double *want = ref_alloc(outer * inner), *wm = ref_alloc(outer), *wi = ref_alloc(outer);
    const float *x = c.in[0].data, *sc = c.in[1].data, *b = bias ? c.in[2].data : NULL;
    for (int64_t o = 0; o < outer; o++) {
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < ns; j++) mean += x[o * ns + j];
        mean /= (double)ns;
        for (int64_t j = 0; j < ns; j++) var += pow(x[o * ns + j] - mean, 2);
        var /= (double)ns;
        double inv = 1.0 / sqrt(var + (double)0.05f);
        wm[o] = mean;
        wi[o] = inv;
        for (int64_t j = 0; j < ns; j++) {
            int64_t rem = j, si = 0, sstride = 1;
            for (int d = (int)nsd - 1; d >= 0; d--) {
                int64_t idx = rem % xd[ax + d];
                rem /= xd[ax + d];
                int sdim = d - (int)(nsd - rs);
                if (sdim >= 0) {
                    si += (sd[sdim] == 1 ? 0 : idx) * sstride;
                    sstride *= sd[sdim];
                }
            }
            want[o * ns + j] = (x[o * ns + j] - mean) * inv * sc[si] + (b ? b[si] : 0.0);
        }
    }
    cv_test_expect_close(&c.out[0], want, outer * inner, 1e-5);
    cv_test_expect_close(&c.out[1], wm, outer, 1e-5);
    cv_test_expect_close(&c.out[2], wi, outer, 1e-5);
    free(want);
    free(wm);
    free(wi);
    cv_test_case_free(&c);
}

static void test_layer_normalization(void **state)
{
    (void)state;
    const int64_t xd[] = {2, 3, 4, 5};
    check_layer_norm(4, xd, -1, 1, (const int64_t[]){5}, true);
    check_layer_norm(4, xd, 2, 2, (const int64_t[]){4, 5}, true);
    check_layer_norm(4, xd, 1, 3, (const int64_t[]){3, 4, 5}, false);
    check_layer_norm(4, xd, 0, 4, xd, true);
    check_layer_norm(4, xd, -3, 2, (const int64_t[]){1, 5}, true); /* broadcast scale */
    check_layer_norm(2, (const int64_t[]){7, 33}, 1, 1, (const int64_t[]){33}, true);

    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_LAYER_NORMALIZATION, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 1, (const int64_t[]){4}, 2);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT,
                 "Scale has shape [4], which does not broadcast to the normalized shape [5]");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_LAYER_NORMALIZATION, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 1, (const int64_t[]){5}, 2);
    cv_test_attr_int(&c, "axis", 4);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "axis 4 is out of range for rank 4");
    cv_test_case_free(&c);
}

/* ---- Softmax, LogSoftmax ----------------------------------------------------- */

/* Softmax by definition over lines of `len` elements `inner` apart. */
static void check_softmax(cv_op_t op, int opset, int r, const int64_t *xd, bool has_axis,
                          int64_t axis, int64_t len, int64_t inner, float scale)
{
    cv_test_case_t c;
    cv_test_case_init(&c, op, 1);
    c.node.opset = opset;
    cv_tensor_t *x = cv_test_add_random(&c, CV_DTYPE_FP32, r, xd, 17);
    float *xv = x->data;
    int64_t total = cv_shape_numel(&x->shape);
    for (int64_t i = 0; i < total; i++) xv[i] *= scale;
    if (has_axis) cv_test_attr_int(&c, "axis", axis);
    cv_test_run_ok(&c);
    cv_test_expect_shape(&c.out[0], r, xd);
    double *want = ref_alloc(total);
    for (int64_t o = 0; o < total / (len * inner); o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *line = xv + o * len * inner + i;
            double mx = -INFINITY, sum = 0.0;
            for (int64_t j = 0; j < len; j++) mx = fmax(mx, line[j * inner]);
            for (int64_t j = 0; j < len; j++) sum += exp(line[j * inner] - mx);
            for (int64_t j = 0; j < len; j++) {
                double v = line[j * inner] - mx;
                want[o * len * inner + i + j * inner] =
                    op == CV_OP_LOG_SOFTMAX ? v - log(sum) : exp(v) / sum;
            }
        }
    cv_test_expect_close(&c.out[0], want, total, 1e-5);
    free(want);
    cv_test_case_free(&c);
}

static void test_softmax(void **state)
{
    (void)state;
    const int64_t xd[] = {2, 3, 4};
    cv_op_t ops[] = {CV_OP_SOFTMAX, CV_OP_LOG_SOFTMAX};
    for (int k = 0; k < 2; k++) {
        cv_op_t op = ops[k];
        /* opset 11: coerced to 2-D at axis (default 1) */
        check_softmax(op, 11, 3, xd, false, 0, 12, 1, 1.0f);
        check_softmax(op, 11, 3, xd, true, 0, 24, 1, 1.0f);
        check_softmax(op, 11, 3, xd, true, 2, 4, 1, 1.0f);
        check_softmax(op, 11, 3, xd, true, -2, 12, 1, 1.0f);
        /* opset 13: one axis (default -1) */
        check_softmax(op, 13, 3, xd, false, 0, 4, 1, 1.0f);
        check_softmax(op, 13, 3, xd, true, 1, 3, 4, 1.0f);
        check_softmax(op, 13, 3, xd, true, 0, 2, 12, 1.0f);
        check_softmax(op, 13, 3, xd, true, -2, 3, 4, 1.0f);
        /* large inputs stay finite (max subtraction) */
        check_softmax(op, 13, 3, xd, false, 0, 4, 1, 3000.0f);
        check_softmax(op, 13, 2, (const int64_t[]){1, 1000}, false, 0, 1000, 1, 10.0f);
    }
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_SOFTMAX, 1);
    cv_test_add_random(&c, CV_DTYPE_FP32, 3, xd, 1);
    cv_test_attr_int(&c, "axis", 3);
    cv_test_expect_infer_error(&c, CV_STATUS_INVALID_ARGUMENT, "axis 3 is out of range for rank 3");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_LOG_SOFTMAX, 1);
    cv_test_add_random(&c, CV_DTYPE_INT64, 3, xd, 1);
    cv_test_expect_infer_error(&c, CV_STATUS_UNSUPPORTED, "LogSoftmax on INT64 (input) is not supported");
    cv_test_case_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_general),
        cmocka_unit_test(test_conv_pointwise),
        cmocka_unit_test(test_conv_depthwise),
        cmocka_unit_test(test_conv_auto_pad),
        cmocka_unit_test(test_conv_1d_3d),
        cmocka_unit_test(test_conv_fp64),
        cmocka_unit_test(test_conv_errors),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_max_pool),
        cmocka_unit_test(test_average_pool),
        cmocka_unit_test(test_global_pools),
        cmocka_unit_test(test_pool_errors),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_gemm_errors),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_matmul_errors),
        cmocka_unit_test(test_batch_normalization),
        cmocka_unit_test(test_lrn),
        cmocka_unit_test(test_layer_normalization),
        cmocka_unit_test(test_softmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
