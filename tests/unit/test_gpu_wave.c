/*
 * test_gpu_wave.c: the CUDA backend's GEMM-like ops and waves, against the
 * CPU backend.
 *
 *   (a) Conv (groups, depthwise, 1x1, pads, dilations, 1-D, SAME, bias,
 *       Relu/Clip), Gemm (transA/transB, alpha/beta, C broadcasts) and
 *       MatMul (weight, tall, two activations) as one-node graphs run by
 *       the executor on CUDA and on the CPU (cv_op_def(op)->cpu), in FP32,
 *       TF32, FP16 and BF16, each within its tolerance;
 *   (b) waves of R = 1, 2, 7, 64 tenants of a small CNN (distinct weights,
 *       1..3 rows per slice) give each tenant its solo output and the CPU
 *       backend's; swapping two tenants' weights is caught; FP16 and BF16
 *       waves of convolutions keep their activations in half and stay
 *       within tolerance of the CPU and of FP32 activations;
 *   (c) a failed device allocation returns OUT_OF_MEMORY and the backend
 *       still works; a step the CUDA entry hands to the host is counted
 *       and right;
 *   and, when ../shared/models (or $CARAVEL_SHARED_DIR) is there, two
 *   SqueezeNet tenants through the public API on CUDA.
 *
 * Needs a GPU: exits 77 (skipped) with the reason when there is none or
 * when the build has no CUDA backend.
 */
#include "graphs.h"

#include "ir/passes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CARAVEL_WITH_CUDA
#include "backend/cuda/cuda_cutlass.h"
#include "backend/cuda/cuda_internal.h"

/* ---- shared backends ------------------------------------------------------ */

typedef struct backends {
    cv_backend_t *cpu, *cuda;
    cv_executor_t *cpu_exec, *cuda_exec;
} backends_t;

static backends_t B;

static int setup(void **state)
{
    cv_err_t err;
    if (cv_backend_cpu_create(1, &B.cpu, &err) != CV_STATUS_OK) return -1;
    if (cv_exec_create(B.cpu, &B.cpu_exec, &err) != CV_STATUS_OK) return -1;
    if (cv_backend_cuda_create(0, &B.cuda, &err) != CV_STATUS_OK) {
        fprintf(stderr, "CUDA backend: %s\n", err.msg);
        return -1;
    }
    if (cv_exec_create(B.cuda, &B.cuda_exec, &err) != CV_STATUS_OK) return -1;
    return 0;
}

static int teardown(void **state)
{
    cv_exec_destroy(B.cuda_exec);
    cv_exec_destroy(B.cpu_exec);
    if (B.cuda) B.cuda->iface->destroy(B.cuda);
    if (B.cpu) B.cpu->iface->destroy(B.cpu);
    return 0;
}

/* ---- running one graph on both backends ----------------------------------- */

static cv_plan_t *plan_of(const cv_graph_t *g, const cv_shape_t *shapes)
{
    return cv_test_plan(g, shapes, cv_backend_cpu_ctx(B.cpu));
}

/* Runs `plan` over slices (tenant tables per slice) on an executor;
 * returns output 0 (host, allocated). */
static cv_tensor_t run_plan(cv_executor_t *ex, const cv_plan_t *plan, void ***tables, const int64_t *rows,
                            int nslices, cv_precision_t prec, const cv_tensor_t *inputs)
{
    cv_tensor_t out;
    cv_test_wave_run(ex, plan, tables, rows, nslices, prec, inputs, &out);
    return out;
}

static const char *precision_name(cv_precision_t p)
{
    static const char *names[] = {"FP32", "TF32", "FP16", "BF16"};
    return names[p];
}

static double tolerance(cv_precision_t p)
{
    static const double tol[] = {1e-5, 1e-2, 2e-2, 5e-2};
    return tol[p];
}

/* ---- (a) differential tests of single ops -------------------------------- */

typedef struct op_case {
    const char *name;
    cv_op_t op;
    cv_shape_t x, w; /* x: input 0 with its rows; w: input 1 */
    bool w_input;    /* input 1 is a second graph input, not a weight */
    cv_shape_t c;    /* bias / C; ndim 0 = none */
    int64_t group;
    int64_t strides[3], dilations[3], pads[6];
    int nspatial; /* entries of strides/dilations (pads: twice) to set */
    bool set_pads;
    const char *auto_pad;
    int trans_a, trans_b;
    float alpha, beta;
    cv_activation_t act;
    float lo, hi;
} op_case_t;

static cv_graph_t *build_case(const op_case_t *k, uint64_t seed)
{
    cv_graph_t *g = cv_test_graph_new(k->name, 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, k->x);
    int w = k->w_input ? cv_test_graph_input(g, "w", CV_DTYPE_FP32, k->w) : cv_test_graph_weight(g, "w", k->w, seed + 1);
    int in[3] = {x, w, -1};
    int nin = 2;
    if (k->c.ndim > 0) in[nin++] = cv_test_graph_weight(g, "c", k->c, seed + 2);
    int n = cv_test_graph_node(g, k->op, in, nin, "y");
    if (k->op == CV_OP_CONV) {
        if (k->group != 1) cv_test_graph_attr_int(g, n, "group", k->group);
        cv_test_graph_attr_ints(g, n, "strides", k->strides, k->nspatial);
        cv_test_graph_attr_ints(g, n, "dilations", k->dilations, k->nspatial);
        if (k->set_pads) cv_test_graph_attr_ints(g, n, "pads", k->pads, 2 * k->nspatial);
        if (k->auto_pad) cv_test_graph_attr_string(g, n, "auto_pad", k->auto_pad);
    } else if (k->op == CV_OP_GEMM) {
        if (k->trans_a) cv_test_graph_attr_int(g, n, "transA", 1);
        if (k->trans_b) cv_test_graph_attr_int(g, n, "transB", 1);
        cv_test_graph_attr_float(g, n, "alpha", k->alpha);
        cv_test_graph_attr_float(g, n, "beta", k->beta);
    }
    g->nodes[n].activation = k->act;
    g->nodes[n].clip_min = k->lo;
    g->nodes[n].clip_max = k->hi;
    cv_test_graph_output(g, cv_test_graph_out(g, n));
    cv_test_graph_prepare(g, cv_backend_cpu_ctx(B.cpu));
    return g;
}

static const op_case_t CASES[] = {
    {"conv 3x3 pad 1 bias relu", CV_OP_CONV, CV_TEST_SHAPE(2, 3, 9, 9), CV_TEST_SHAPE(8, 3, 3, 3), false, CV_TEST_SHAPE(8), 1, {1, 1}, {1, 1},
     {1, 1, 1, 1}, 2, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_RELU, 0, 0},
    {"conv groups 4 stride 2 clip", CV_OP_CONV, CV_TEST_SHAPE(3, 8, 10, 10), CV_TEST_SHAPE(12, 2, 3, 3), false, CV_TEST_SHAPE(12), 4, {2, 2},
     {1, 1}, {1, 1, 1, 1}, 2, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_CLIP, -0.2f, 0.3f},
    {"depthwise 3x3 stride 1 bias relu", CV_OP_CONV, CV_TEST_SHAPE(2, 16, 7, 7), CV_TEST_SHAPE(16, 1, 3, 3), false, CV_TEST_SHAPE(16), 16,
     {1, 1}, {1, 1}, {1, 1, 1, 1}, 2, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_RELU, 0, 0},
    {"depthwise 3x3 stride 2 no bias", CV_OP_CONV, CV_TEST_SHAPE(2, 16, 9, 8), CV_TEST_SHAPE(16, 1, 3, 3), false, {0}, 16, {2, 2},
     {1, 1}, {1, 1, 1, 1}, 2, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    /* Widths that are no multiple of the tiled kernel's run of 4, and
     * narrower than one (the tiled kernel: test_depthwise_kernels). */
    {"depthwise 3x3 pad 1 width 13 clip", CV_OP_CONV, CV_TEST_SHAPE(2, 8, 15, 13), CV_TEST_SHAPE(8, 1, 3, 3), false, CV_TEST_SHAPE(8), 8,
     {1, 1}, {1, 1}, {1, 1, 1, 1}, 2, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_CLIP, 0.0f, 6.0f},
    {"depthwise 3x3 stride 2 pad 1 width 17", CV_OP_CONV, CV_TEST_SHAPE(2, 8, 16, 17), CV_TEST_SHAPE(8, 1, 3, 3), false, CV_TEST_SHAPE(8), 8,
     {2, 2}, {1, 1}, {1, 1, 1, 1}, 2, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_RELU, 0, 0},
    {"depthwise 3x3 no pad width 3", CV_OP_CONV, CV_TEST_SHAPE(1, 4, 5, 5), CV_TEST_SHAPE(4, 1, 3, 3), false, {0}, 4,
     {1, 1}, {1, 1}, {0, 0, 0, 0}, 2, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    {"depthwise 3x3 asymmetric pads", CV_OP_CONV, CV_TEST_SHAPE(2, 6, 9, 10), CV_TEST_SHAPE(6, 1, 3, 3), false, CV_TEST_SHAPE(6), 6,
     {2, 2}, {1, 1}, {0, 1, 1, 0}, 2, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    {"depthwise multiplier 2", CV_OP_CONV, CV_TEST_SHAPE(2, 4, 6, 6), CV_TEST_SHAPE(8, 1, 3, 3), false, CV_TEST_SHAPE(8), 4, {1, 1}, {1, 1},
     {0, 0, 0, 0}, 2, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    {"conv 1x1 bias", CV_OP_CONV, CV_TEST_SHAPE(3, 16, 5, 5), CV_TEST_SHAPE(24, 16, 1, 1), false, CV_TEST_SHAPE(24), 1, {1, 1}, {1, 1},
     {0, 0, 0, 0}, 2, false, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    {"conv 1x1 groups 2 relu", CV_OP_CONV, CV_TEST_SHAPE(2, 8, 4, 6), CV_TEST_SHAPE(6, 4, 1, 1), false, CV_TEST_SHAPE(6), 2, {1, 1}, {1, 1},
     {0, 0, 0, 0}, 2, false, NULL, 0, 0, 1, 1, CV_ACTIVATION_RELU, 0, 0},
    {"conv 1x1 stride 2", CV_OP_CONV, CV_TEST_SHAPE(2, 8, 7, 7), CV_TEST_SHAPE(5, 8, 1, 1), false, {0}, 1, {2, 2}, {1, 1},
     {0, 0, 0, 0}, 2, false, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    {"conv 3x2 dilation 2 asymmetric pads", CV_OP_CONV, CV_TEST_SHAPE(2, 5, 11, 9), CV_TEST_SHAPE(7, 5, 3, 2), false, {0}, 1,
     {2, 1}, {2, 2}, {0, 1, 2, 1}, 2, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    {"conv 1-D", CV_OP_CONV, CV_TEST_SHAPE(2, 4, 17), CV_TEST_SHAPE(6, 4, 5), false, CV_TEST_SHAPE(6), 1, {2}, {1}, {2, 1}, 1, true, NULL, 0, 0, 1,
     1, CV_ACTIVATION_RELU, 0, 0},
    {"conv SAME_UPPER stride 2", CV_OP_CONV, CV_TEST_SHAPE(2, 3, 8, 7), CV_TEST_SHAPE(4, 3, 3, 3), false, CV_TEST_SHAPE(4), 1, {2, 2}, {1, 1},
     {0}, 2, false, "SAME_UPPER", 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    {"conv 3-D", CV_OP_CONV, CV_TEST_SHAPE(1, 2, 4, 5, 5), CV_TEST_SHAPE(3, 2, 2, 3, 3), false, CV_TEST_SHAPE(3), 1, {1, 1, 1}, {1, 1, 1},
     {0, 1, 1, 1, 1, 1}, 3, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    /* Depth 1 with padding along depth: 3 output depths (147 pixels: the
     * small planes' K-contiguous columns, which are 2-D only), and depth
     * taps that fall in the padding (a grouped, a depthwise Conv: Y is the
     * bias), which the 2-D kernels must not take. */
    {"conv 3-D depth 1 padded", CV_OP_CONV, CV_TEST_SHAPE(2, 8, 1, 7, 7), CV_TEST_SHAPE(8, 8, 1, 3, 3), false, CV_TEST_SHAPE(8), 1,
     {1, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 3, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    {"conv 3-D depth tap in the padding", CV_OP_CONV, CV_TEST_SHAPE(2, 4, 1, 6, 6), CV_TEST_SHAPE(6, 2, 1, 3, 3), true, CV_TEST_SHAPE(6), 2,
     {2, 1, 1}, {1, 1, 1}, {1, 1, 1, 0, 1, 1}, 3, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    {"depthwise 3-D depth tap in the padding", CV_OP_CONV, CV_TEST_SHAPE(2, 8, 1, 6, 6), CV_TEST_SHAPE(8, 1, 1, 3, 3), true, CV_TEST_SHAPE(8), 8,
     {2, 1, 1}, {1, 1, 1}, {1, 1, 1, 0, 1, 1}, 3, true, NULL, 0, 0, 1, 1, CV_ACTIVATION_RELU, 0, 0},
    {"gemm transB bias", CV_OP_GEMM, CV_TEST_SHAPE(4, 33), CV_TEST_SHAPE(17, 33), false, CV_TEST_SHAPE(17), 1, {0}, {0}, {0}, 0, false, NULL, 0, 1,
     1.0f, 1.0f, CV_ACTIVATION_NONE, 0, 0},
    {"gemm alpha beta C[1,N] relu", CV_OP_GEMM, CV_TEST_SHAPE(5, 20), CV_TEST_SHAPE(20, 9), false, CV_TEST_SHAPE(1, 9), 1, {0}, {0}, {0}, 0, false,
     NULL, 0, 0, 0.5f, 2.0f, CV_ACTIVATION_RELU, 0, 0},
    {"gemm C[M,1] transA", CV_OP_GEMM, CV_TEST_SHAPE(6, 4), CV_TEST_SHAPE(7, 6), false, CV_TEST_SHAPE(4, 1), 1, {0}, {0}, {0}, 0, false, NULL, 1, 1,
     1.0f, 1.0f, CV_ACTIVATION_NONE, 0, 0},
    {"gemm no C", CV_OP_GEMM, CV_TEST_SHAPE(3, 64), CV_TEST_SHAPE(64, 40), false, {0}, 1, {0}, {0}, {0}, 0, false, NULL, 0, 0, 1.0f,
     1.0f, CV_ACTIVATION_NONE, 0, 0},
    {"matmul cv_test_graph_weight", CV_OP_MATMUL, CV_TEST_SHAPE(4, 24), CV_TEST_SHAPE(24, 10), false, {0}, 1, {0}, {0}, {0}, 0, false, NULL, 0, 0, 1,
     1, CV_ACTIVATION_NONE, 0, 0},
    {"matmul tall cv_test_graph_weight", CV_OP_MATMUL, CV_TEST_SHAPE(2, 5, 24), CV_TEST_SHAPE(24, 7), false, {0}, 1, {0}, {0}, {0}, 0, false, NULL,
     0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
    {"matmul two activations", CV_OP_MATMUL, CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(2, 3, 5, 6), true, {0}, 1, {0}, {0}, {0}, 0,
     false, NULL, 0, 0, 1, 1, CV_ACTIVATION_NONE, 0, 0},
};

static void run_case(const op_case_t *k, cv_precision_t prec, uint64_t seed)
{
    cv_graph_t *g = build_case(k, seed);
    cv_shape_t shapes[2] = {k->x, k->w};
    cv_plan_t *plan = plan_of(g, shapes);
    cv_tensor_t inputs[2];
    for (int i = 0; i < g->ninputs; i++) {
        assert_int_equal(cv_tensor_alloc(&inputs[i], CV_DTYPE_FP32, &shapes[i]), CV_STATUS_OK);
        cv_test_fill_random(&inputs[i], seed + 10 + (uint64_t)i);
    }
    void **cpu_table, **cuda_table;
    cv_err_t err;
    assert_int_equal(B.cpu->iface->tenant_upload(B.cpu, g, CV_PRECISION_FP32, NULL, &cpu_table, &err), CV_STATUS_OK);
    if (B.cuda->iface->tenant_upload(B.cuda, g, prec, NULL, &cuda_table, &err) != CV_STATUS_OK)
        fail_msg("upload: %s", err.msg);
    int64_t rows = plan->rows;
    cv_tensor_t ref = run_plan(B.cpu_exec, plan, &cpu_table, &rows, 1, CV_PRECISION_FP32, inputs);
    cv_tensor_t got = run_plan(B.cuda_exec, plan, &cuda_table, &rows, 1, prec, inputs);
    double d = cv_test_rel_diff(&got, &ref);
    printf("  %-40s %s: rel diff %.2e (tolerance %.0e)\n", k->name, precision_name(prec), d, tolerance(prec));
    if (!(d <= tolerance(prec))) fail_msg("%s in %s: rel diff %g", k->name, precision_name(prec), d);
    /* The comparison can fail: a changed weight shows. */
    if (prec == CV_PRECISION_FP32 && !k->w_input) {
        cv_test_fill_random(g->values[g->nodes[0].inputs[1]].constant, seed + 99);
        void **other;
        assert_int_equal(B.cuda->iface->tenant_upload(B.cuda, g, prec, NULL, &other, &err), CV_STATUS_OK);
        cv_tensor_t changed = run_plan(B.cuda_exec, plan, &other, &rows, 1, prec, inputs);
        assert_true(cv_test_rel_diff(&changed, &ref) > 1e-3);
        cv_tensor_free(&changed);
        B.cuda->iface->tenant_release(B.cuda, g, other);
    }
    cv_tensor_free(&ref);
    cv_tensor_free(&got);
    for (int i = 0; i < g->ninputs; i++) cv_tensor_free(&inputs[i]);
    B.cpu->iface->tenant_release(B.cpu, g, cpu_table);
    B.cuda->iface->tenant_release(B.cuda, g, cuda_table);
    cv_plan_destroy(plan);
    cv_graph_destroy(g);
}

static void test_ops_fp32(void **state)
{
    for (size_t i = 0; i < CV_ARRAY_LEN(CASES); i++) run_case(&CASES[i], CV_PRECISION_FP32, 1000 + 17 * i);
}

static void test_ops_tf32(void **state)
{
    for (size_t i = 0; i < CV_ARRAY_LEN(CASES); i++) run_case(&CASES[i], CV_PRECISION_TF32, 2000 + 17 * i);
}

static void test_ops_fp16(void **state)
{
    for (size_t i = 0; i < CV_ARRAY_LEN(CASES); i++) run_case(&CASES[i], CV_PRECISION_FP16, 3000 + 17 * i);
}

static void test_ops_bf16(void **state)
{
    for (size_t i = 0; i < CV_ARRAY_LEN(CASES); i++) run_case(&CASES[i], CV_PRECISION_BF16, 4000 + 17 * i);
}

/* ---- (b) waves of many tenants -------------------------------------------- */

/* x[N,3,8,8] -> Conv 3x3 pad 1 + BatchNorm + Relu (folded into one Conv)
 * -> depthwise Conv 3x3 stride 2 + bias -> Clip(0, 6) -> Conv 1x1 group 2
 * -> GlobalAveragePool -> Flatten -> Gemm (transB) -> MatMul (weight)
 * -> Softmax: every GEMM-like path with per-tenant weights. */
static cv_graph_t *build_cnn(uint64_t seed)
{
    cv_graph_t *g = cv_test_graph_new("gpu-cnn", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 3, 8, 8));
    int w1 = cv_test_graph_weight(g, "w1", CV_TEST_SHAPE(8, 3, 3, 3), seed + 1);
    int b1 = cv_test_graph_weight(g, "b1", CV_TEST_SHAPE(8), seed + 2);
    int conv1 = cv_test_graph_node(g, CV_OP_CONV, (int[]){x, w1, b1}, 3, "conv1");
    cv_test_graph_attr_ints(g, conv1, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    int bn_in[5] = {cv_test_graph_out(g, conv1)};
    const char *bn_names[4] = {"bn_s", "bn_b", "bn_m", "bn_v"};
    for (int i = 0; i < 4; i++) bn_in[1 + i] = cv_test_graph_weight(g, bn_names[i], CV_TEST_SHAPE(8), seed + 3 + (uint64_t)i);
    float *var = g->values[bn_in[4]].constant->data;
    for (int i = 0; i < 8; i++) var[i] = fabsf(var[i]) + 0.5f;
    int bn = cv_test_graph_node(g, CV_OP_BATCH_NORMALIZATION, bn_in, 5, "bn");
    int relu = cv_test_graph_node(g, CV_OP_RELU, (int[]){cv_test_graph_out(g, bn)}, 1, "relu");
    int w2 = cv_test_graph_weight(g, "w2", CV_TEST_SHAPE(8, 1, 3, 3), seed + 7);
    int b2 = cv_test_graph_weight(g, "b2", CV_TEST_SHAPE(8), seed + 8);
    int dw = cv_test_graph_node(g, CV_OP_CONV, (int[]){cv_test_graph_out(g, relu), w2, b2}, 3, "dw");
    cv_test_graph_attr_int(g, dw, "group", 8);
    cv_test_graph_attr_ints(g, dw, "strides", (int64_t[]){2, 2}, 2);
    cv_test_graph_attr_ints(g, dw, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    int lo = cv_test_graph_const_scalar(g, "lo", 0.0f), hi = cv_test_graph_const_scalar(g, "hi", 6.0f);
    int clip = cv_test_graph_node(g, CV_OP_CLIP, (int[]){cv_test_graph_out(g, dw), lo, hi}, 3, "clip");
    int w3 = cv_test_graph_weight(g, "w3", CV_TEST_SHAPE(6, 4, 1, 1), seed + 9);
    int pw = cv_test_graph_node(g, CV_OP_CONV, (int[]){cv_test_graph_out(g, clip), w3}, 2, "pw");
    cv_test_graph_attr_int(g, pw, "group", 2);
    int pool = cv_test_graph_node(g, CV_OP_GLOBAL_AVERAGE_POOL, (int[]){cv_test_graph_out(g, pw)}, 1, "pool");
    int flat = cv_test_graph_node(g, CV_OP_FLATTEN, (int[]){cv_test_graph_out(g, pool)}, 1, "flat");
    int w4 = cv_test_graph_weight(g, "w4", CV_TEST_SHAPE(5, 6), seed + 10);
    int b4 = cv_test_graph_weight(g, "b4", CV_TEST_SHAPE(5), seed + 11);
    int fc = cv_test_graph_node(g, CV_OP_GEMM, (int[]){cv_test_graph_out(g, flat), w4, b4}, 3, "fc");
    cv_test_graph_attr_int(g, fc, "transB", 1);
    int w5 = cv_test_graph_weight(g, "w5", CV_TEST_SHAPE(5, 4), seed + 12);
    int mm = cv_test_graph_node(g, CV_OP_MATMUL, (int[]){cv_test_graph_out(g, fc), w5}, 2, "mm");
    int sm = cv_test_graph_node(g, CV_OP_SOFTMAX, (int[]){cv_test_graph_out(g, mm)}, 1, "prob");
    cv_test_graph_output(g, cv_test_graph_out(g, sm));
    cv_test_graph_prepare(g, cv_backend_cpu_ctx(B.cpu));
    return g;
}

typedef struct tenants {
    int n;
    cv_graph_t **graphs;
    void ***cpu_tables, ***cuda_tables;
} tenants_t;

/* Room for n tenants. */
static void tenants_alloc(tenants_t *t, int n)
{
    t->n = n;
    t->graphs = cv_calloc((size_t)n, sizeof(cv_graph_t *));
    t->cpu_tables = cv_calloc((size_t)n, sizeof(void **));
    t->cuda_tables = cv_calloc((size_t)n, sizeof(void **));
}

/* Tenant i's graph (built) onto the CPU in FP32 and onto CUDA in prec. */
static void tenant_upload_both(tenants_t *t, int i, cv_precision_t prec)
{
    cv_err_t err;
    assert_int_equal(B.cpu->iface->tenant_upload(B.cpu, t->graphs[i], CV_PRECISION_FP32, NULL, &t->cpu_tables[i], &err),
                     CV_STATUS_OK);
    if (B.cuda->iface->tenant_upload(B.cuda, t->graphs[i], prec, NULL, &t->cuda_tables[i], &err) != CV_STATUS_OK)
        fail_msg("upload: %s", err.msg);
}

static void tenants_load(tenants_t *t, int n, cv_precision_t prec)
{
    tenants_alloc(t, n);
    for (int i = 0; i < n; i++) {
        t->graphs[i] = build_cnn(100 * (uint64_t)(i + 1));
        tenant_upload_both(t, i, prec);
    }
    assert_true(cv_ir_family_hash(t->graphs[0]) == cv_ir_family_hash(t->graphs[n - 1]));
}

static void tenants_free(tenants_t *t)
{
    for (int i = 0; i < t->n; i++) {
        B.cpu->iface->tenant_release(B.cpu, t->graphs[i], t->cpu_tables[i]);
        B.cuda->iface->tenant_release(B.cuda, t->graphs[i], t->cuda_tables[i]);
        cv_graph_destroy(t->graphs[i]);
    }
    cv_free(t->graphs);
    cv_free(t->cpu_tables);
    cv_free(t->cuda_tables);
}

/* A wave of `r` tenants (slice s: tenant s, 1 + s % 3 rows): each slice
 * equals its tenant alone on CUDA and the CPU backend's wave; in FP32 a
 * swap of the first two tenants' weights is caught. */
static void check_wave(int r, cv_precision_t prec)
{
    tenants_t t;
    tenants_load(&t, r, prec);
    int64_t rows[128], total = 0;
    for (int s = 0; s < r; s++) total += rows[s] = 1 + s % 3;
    cv_shape_t xs = CV_TEST_SHAPE(total, 3, 8, 8);
    cv_tensor_t x;
    assert_int_equal(cv_tensor_alloc(&x, CV_DTYPE_FP32, &xs), CV_STATUS_OK);
    cv_test_fill_random(&x, 7 + (uint64_t)r);
    cv_plan_t *plan = plan_of(t.graphs[0], &xs);
    assert_true(plan->stackable);

    cv_tensor_t gpu = run_plan(B.cuda_exec, plan, t.cuda_tables, rows, r, prec, &x);
    cv_tensor_t cpu = run_plan(B.cpu_exec, plan, t.cpu_tables, rows, r, CV_PRECISION_FP32, &x);
    double d_cpu = cv_test_rel_diff(&gpu, &cpu), worst_solo = 0;
    if (!(d_cpu <= tolerance(prec))) fail_msg("R=%d %s: CUDA wave vs CPU wave: rel diff %g", r, precision_name(prec), d_cpu);

    void **swapped_tables[128];
    for (int s = 0; s < r; s++) swapped_tables[s] = t.cuda_tables[s];
    if (r >= 2) {
        swapped_tables[0] = t.cuda_tables[1];
        swapped_tables[1] = t.cuda_tables[0];
    }
    cv_tensor_t swapped = run_plan(B.cuda_exec, plan, swapped_tables, rows, r, prec, &x);
    int64_t row0 = 0;
    for (int s = 0; s < r; s++) {
        cv_tensor_t xin = cv_test_rows_copy(&x, row0, rows[s]);
        cv_shape_t ss = xin.shape;
        cv_plan_t *solo_plan = plan_of(t.graphs[s], &ss);
        cv_tensor_t solo = run_plan(B.cuda_exec, solo_plan, &t.cuda_tables[s], &rows[s], 1, prec, &xin);
        cv_tensor_t mine = cv_test_rows_copy(&gpu, row0, rows[s]);
        cv_tensor_t other = cv_test_rows_copy(&swapped, row0, rows[s]);
        double d = cv_test_rel_diff(&mine, &solo);
        worst_solo = fmax(worst_solo, d);
        /* Wave and solo run other GEMM kernels (batched vs plain): in FP32
         * only the order of accumulation differs; in TF32 cuBLAS may pick
         * a TF32 kernel for one and a full-FP32 one for the other. */
        double solo_tol = prec == CV_PRECISION_FP32 ? 1e-5 : tolerance(prec);
        if (!(d <= solo_tol)) fail_msg("R=%d %s: slice %d differs from its tenant alone: %g", r, precision_name(prec), s, d);
        if (r >= 2 && s < 2 && prec == CV_PRECISION_FP32) assert_true(cv_test_rel_diff(&other, &solo) > 1e-3);
        if (s >= 2) assert_true(cv_test_rel_diff(&other, &solo) <= solo_tol);
        cv_tensor_free(&xin);
        cv_tensor_free(&solo);
        cv_tensor_free(&mine);
        cv_tensor_free(&other);
        cv_plan_destroy(solo_plan);
        row0 += rows[s];
    }
    printf("  R=%-3d %s: %lld rows, CUDA vs CPU %.2e, slice vs solo %.2e\n", r, precision_name(prec),
           (long long)total, d_cpu, worst_solo);
    cv_tensor_free(&gpu);
    cv_tensor_free(&cpu);
    cv_tensor_free(&swapped);
    cv_tensor_free(&x);
    cv_plan_destroy(plan);
    tenants_free(&t);
}

static void test_wave_r1(void **state) { check_wave(1, CV_PRECISION_FP32); }
static void test_wave_r2(void **state) { check_wave(2, CV_PRECISION_FP32); }
static void test_wave_r7(void **state) { check_wave(7, CV_PRECISION_FP32); }

/* FP16 and BF16 tenants with the half copy alone of the weights no FP32
 * path reads (the default; tenant_upload's path) and with both copies
 * (CARAVEL_HALF_WEIGHTS=both): every case against the CPU, which a path
 * still reading the FP32 copy when only the half one exists (half bytes
 * as floats) would fail. */
static void test_ops_half_copies(void **state)
{
    cv_cuda_t *cuda = (cv_cuda_t *)B.cuda;
    bool was = cuda->half_only_weights;
    for (int only = 0; only < 2; only++) {
        cuda->half_only_weights = only;
        for (size_t i = 0; i < CV_ARRAY_LEN(CASES); i++) {
            run_case(&CASES[i], CV_PRECISION_FP16, 7000 + 17 * i);
            run_case(&CASES[i], CV_PRECISION_BF16, 8000 + 17 * i);
        }
        check_wave(7, CV_PRECISION_FP16);
    }
    cuda->half_only_weights = was;
}

/* Both 3x3 depthwise kernels against the CPU: the tiled one (the
 * default) and the direct one (CARAVEL_DEPTHWISE=direct), on every
 * depthwise case (strides 1 and 2, pads, widths off the tiled kernel's run
 * of 4), in FP32 and FP16, and a wave of 7 tenants whose depthwise step
 * each runs. */
static void test_depthwise_kernels(void **state)
{
    cv_cuda_t *cuda = (cv_cuda_t *)B.cuda;
    bool was = cuda->depthwise_tiled;
    for (int tiled = 0; tiled < 2; tiled++) {
        cuda->depthwise_tiled = tiled;
        long launches = cuda->depthwise_tiled_launches;
        int ran = 0;
        for (size_t i = 0; i < CV_ARRAY_LEN(CASES); i++) {
            const op_case_t *k = &CASES[i];
            if (k->op != CV_OP_CONV || k->group != k->x.dims[1] || k->w.dims[0] != k->x.dims[1]) continue;
            run_case(k, CV_PRECISION_FP32, 5000 + 17 * i);
            run_case(k, CV_PRECISION_FP16, 6000 + 17 * i);
            ran++;
        }
        assert_true(ran >= 5);
        /* Each FP32 case ran in the kernel asked for at least once. */
        long tiled_runs = cuda->depthwise_tiled_launches - launches;
        if (tiled ? tiled_runs < ran : tiled_runs != 0)
            fail_msg("the tiled kernel ran %ld times for %d cases, asked %s", tiled_runs, ran,
                     tiled ? "tiled" : "direct");
        launches = cuda->depthwise_tiled_launches;
        check_wave(7, CV_PRECISION_FP32);
        assert_true(tiled ? cuda->depthwise_tiled_launches > launches : cuda->depthwise_tiled_launches == launches);
    }
    cuda->depthwise_tiled = was;
}
static void test_wave_r64(void **state) { check_wave(64, CV_PRECISION_FP32); }

/* Reduced precisions in a wave: per-slice half weights in pointer tables. */
static void test_wave_r7_reduced(void **state)
{
    check_wave(7, CV_PRECISION_TF32);
    check_wave(7, CV_PRECISION_FP16);
    check_wave(7, CV_PRECISION_BF16);
}

/* ---- (b1) half activations ------------------------------------------------ */

/* The output value of cv_test_graph_conv's Conv. */
static int conv_out(cv_graph_t *g, const char *name, int x, int64_t m, int64_t c, int64_t k, int64_t stride,
                    int64_t group, bool bias, uint64_t seed)
{
    return cv_test_graph_out(g, cv_test_graph_conv(g, name, x, m, c, k, stride, group, bias, seed));
}

static int half_op(cv_graph_t *g, cv_op_t op, int a, int b, const char *name)
{
    int in[2] = {a, b};
    return cv_test_graph_out(g, cv_test_graph_node(g, op, in, b < 0 ? 1 : 2, name));
}

/* Convolutions and a MaxPool only, so that an FP16/BF16 wave keeps every
 * activation but the last in half (cv_plan_value_t.half_ok): a 3x3 conv
 * of the FP32 input writing half through the GEMM's C and the epilogue; a
 * 3x3 stride-1 MaxPool reading and writing half; a 3x3 conv
 * through im2col of a half X, with a half residual fused (Add, Relu); a
 * 1x1 conv reading its half X as the GEMM operand (or the fused half
 * pointwise kernel: K 40 is a slab and a part, M 72 a tile and a part);
 * both 3x3 depthwise strides, half in and out; a 3x3 conv of few tiles
 * whose K is split
 * (FP32 partial sums, then the split epilogue writes half); a 1x1 conv
 * whose fused residual is half and whose output, read by a pooling, FP32. */
static cv_graph_t *build_half_chain(uint64_t seed, int64_t hw)
{
    cv_graph_t *g = cv_test_graph_new("gpu-half-chain", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 16, hw, hw));
    int a1 = half_op(g, CV_OP_RELU, conv_out(g, "c1", x, 40, 16, 3, 1, 1, true, seed + 10), -1, "r1");
    int pool = cv_test_graph_node(g, CV_OP_MAX_POOL, (int[]){a1}, 1, "pool1");
    cv_test_graph_attr_ints(g, pool, "kernel_shape", (const int64_t[]){3, 3}, 2);
    cv_test_graph_attr_ints(g, pool, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    int m1 = cv_test_graph_out(g, pool);
    int s2 = half_op(g, CV_OP_ADD, conv_out(g, "c2", m1, 40, 40, 3, 1, 1, true, seed + 20), m1, "s2");
    int a2 = half_op(g, CV_OP_RELU, s2, -1, "r2");
    int a3 = conv_out(g, "c3", a2, 72, 40, 1, 1, 1, false, seed + 30);
    int lo = cv_test_graph_const_scalar(g, "lo", 0.0f), hi = cv_test_graph_const_scalar(g, "hi", 6.0f);
    int c4 = conv_out(g, "c4", a3, 72, 72, 3, 1, 72, true, seed + 40);
    int a4 = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_CLIP, (int[]){c4, lo, hi}, 3, "clip4"));
    int a5 = conv_out(g, "c5", a4, 72, 72, 3, 2, 72, true, seed + 50);
    int a6 = conv_out(g, "c6", a5, 64, 72, 3, 1, 1, true, seed + 60);
    int a7 = half_op(g, CV_OP_ADD, conv_out(g, "c7", a6, 72, 64, 1, 1, 1, true, seed + 70), a5, "s7");
    cv_test_graph_output(g, half_op(g, CV_OP_GLOBAL_AVERAGE_POOL, a7, -1, "gap"));
    cv_err_t err;
    cv_test_graph_prepare(g, cv_backend_cpu_ctx(B.cpu));
    if (cv_plan_fuse_residuals(g, cv_backend_cpu_ctx(B.cpu), &err) != CV_STATUS_OK) fail_msg("fuse: %s", err.msg);
    return g;
}

/* n tenants of build_half_chain on hw x hw planes, tenant i's weights
 * from seed0 + i * step. */
static void half_chain_load(tenants_t *t, int n, cv_precision_t prec, uint64_t seed0, uint64_t step, int64_t hw)
{
    tenants_alloc(t, n);
    for (int i = 0; i < n; i++) {
        t->graphs[i] = build_half_chain(seed0 + (uint64_t)i * step, hw);
        tenant_upload_both(t, i, prec);
    }
}

/* Bottleneck blocks of 2-D Convs of one group only, so that every
 * activation but the last may be stored channels innermost
 * (cv_plan_value_t.channels_inner_ok), each kind of Conv reading and
 * writing it (x [N, 16, hw, hw]; `mid` middle channels):
 *   v1 = Relu(Conv3x3(x))           X in planes, Y channels innermost
 *   v2 = Relu(Conv1x1(v1))          X read as its columns directly
 *   v3 = Relu(Conv3x3(v2) + v1)     im2col from pixels (unless 8 does not
 *                                   divide mid: v2 then stays in planes),
 *                                   the residual channels innermost
 *   v4 = Relu(Conv5x5/2(v3))        a 25-tap window, stride 2
 *   v5 = Conv1x1/2(v3)              a 1x1 that is no pointwise copy
 *   v6 = Relu(Conv1x1(v4) + v5)
 *   v7 = Conv1x1(v6) + v6           Y in planes (the pool reads it) from a
 *                                   residual channels innermost
 *   y  = GlobalAveragePool(v7) */
static cv_graph_t *build_nhwc_chain(uint64_t seed, int64_t hw, int64_t mid)
{
    cv_graph_t *g = cv_test_graph_new("gpu-nhwc-chain", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 16, hw, hw));
    int v1 = half_op(g, CV_OP_RELU, conv_out(g, "c1", x, 32, 16, 3, 1, 1, true, seed + 10), -1, "r1");
    int v2 = half_op(g, CV_OP_RELU, conv_out(g, "c2", v1, mid, 32, 1, 1, 1, true, seed + 20), -1, "r2");
    int s3 = half_op(g, CV_OP_ADD, conv_out(g, "c3", v2, 32, mid, 3, 1, 1, true, seed + 30), v1, "s3");
    int v3 = half_op(g, CV_OP_RELU, s3, -1, "r3");
    int v4 = half_op(g, CV_OP_RELU, conv_out(g, "c4", v3, 64, 32, 5, 2, 1, true, seed + 40), -1, "r4");
    int v5 = conv_out(g, "c5", v3, 64, 32, 1, 2, 1, true, seed + 50);
    int s6 = half_op(g, CV_OP_ADD, conv_out(g, "c6", v4, 64, 64, 1, 1, 1, true, seed + 60), v5, "s6");
    int v6 = half_op(g, CV_OP_RELU, s6, -1, "r6");
    int v7 = half_op(g, CV_OP_ADD, conv_out(g, "c7", v6, 64, 64, 1, 1, 1, false, seed + 70), v6, "s7");
    cv_test_graph_output(g, half_op(g, CV_OP_GLOBAL_AVERAGE_POOL, v7, -1, "gap"));
    cv_err_t err;
    cv_test_graph_prepare(g, cv_backend_cpu_ctx(B.cpu));
    if (cv_plan_fuse_residuals(g, cv_backend_cpu_ctx(B.cpu), &err) != CV_STATUS_OK) fail_msg("fuse: %s", err.msg);
    return g;
}

/* Each slice of `wave` (slice i: tenant i, rows[i] rows of x) against its
 * tenant run alone on CUDA, within the precision's tolerance (else fails,
 * naming `what`); returns the largest difference. */
static double slices_vs_solo(const tenants_t *t, const int64_t *rows, cv_precision_t prec, const cv_tensor_t *x,
                             const cv_tensor_t *wave, const char *what)
{
    double worst = 0;
    int64_t row0 = 0;
    for (int i = 0; i < t->n; i++) {
        cv_tensor_t xin = cv_test_rows_copy(x, row0, rows[i]);
        cv_shape_t ss = xin.shape;
        cv_plan_t *solo_plan = plan_of(t->graphs[i], &ss);
        cv_tensor_t solo = run_plan(B.cuda_exec, solo_plan, &t->cuda_tables[i], &rows[i], 1, prec, &xin);
        cv_tensor_t mine = cv_test_rows_copy(wave, row0, rows[i]);
        double d = cv_test_rel_diff(&mine, &solo);
        worst = fmax(worst, d);
        if (!(d <= tolerance(prec)))
            fail_msg("%s, %s: slice %d differs from its tenant alone: %g", precision_name(prec), what, i, d);
        cv_tensor_free(&xin);
        cv_tensor_free(&solo);
        cv_tensor_free(&mine);
        cv_plan_destroy(solo_plan);
        row0 += rows[i];
    }
    return worst;
}

/* A wave of CHAIN_R tenants of build_half_chain (1 or 2 rows each) on
 * hw x hw planes, tenant i's weights from seed0 + i * step: the tenants,
 * their rows, a random input drawn from x_seed, its plan and the CPU's
 * FP32 result, for the tests that run it in several ways. */
enum { CHAIN_R = 5 };
typedef struct chain_wave {
    tenants_t tn;
    int64_t rows[CHAIN_R];
    cv_tensor_t x, cpu;
    cv_plan_t *plan;
} chain_wave_t;

/* The rest of a chain wave once its tenants (of 16 input channels) are
 * in w->tn. */
static void chain_wave_fill(chain_wave_t *w, int64_t hw, uint64_t x_seed)
{
    int64_t total = 0;
    for (int t = 0; t < CHAIN_R; t++) total += w->rows[t] = 1 + t % 2;
    cv_shape_t xs = CV_TEST_SHAPE(total, 16, hw, hw);
    assert_int_equal(cv_tensor_alloc(&w->x, CV_DTYPE_FP32, &xs), CV_STATUS_OK);
    cv_test_fill_random(&w->x, x_seed);
    w->plan = plan_of(w->tn.graphs[0], &xs);
    w->cpu = run_plan(B.cpu_exec, w->plan, w->tn.cpu_tables, w->rows, CHAIN_R, CV_PRECISION_FP32, &w->x);
}

static void chain_wave_make(chain_wave_t *w, cv_precision_t prec, uint64_t seed0, uint64_t step, int64_t hw,
                            uint64_t x_seed)
{
    half_chain_load(&w->tn, CHAIN_R, prec, seed0, step, hw);
    chain_wave_fill(w, hw, x_seed);
}

/* The outputs of one wave run n ways, each within the precision's
 * tolerance of the first (else fails, naming both ways); frees them. */
static void ways_agree(cv_tensor_t *out, int n, const char *const *names, cv_precision_t prec)
{
    for (int way = 1; way < n; way++) {
        double d_ways = cv_test_rel_diff(&out[way], &out[0]);
        printf("    %s vs %s %.2e\n", names[way], names[0], d_ways);
        if (!(d_ways <= tolerance(prec)))
            fail_msg("%s: %s vs %s %g", precision_name(prec), names[way], names[0], d_ways);
    }
    for (int way = 0; way < n; way++) cv_tensor_free(&out[way]);
}

/* Plan p (already run on w's members) run again with the members in the
 * other order, so that a cached graph of it is rebound: within the
 * precision's tolerance of the CPU's wave of that order (else fails). */
static void members_reversed(const chain_wave_t *w, cv_plan_t *p, cv_precision_t prec)
{
    enum { R = CHAIN_R };
    void **rev_cuda[R], **rev_cpu[R];
    int64_t rev_rows[R];
    for (int t = 0; t < R; t++) {
        rev_cuda[t] = w->tn.cuda_tables[R - 1 - t];
        rev_cpu[t] = w->tn.cpu_tables[R - 1 - t];
        rev_rows[t] = w->rows[R - 1 - t];
    }
    cv_tensor_t cpu_rev = run_plan(B.cpu_exec, w->plan, rev_cpu, rev_rows, R, CV_PRECISION_FP32, &w->x);
    cv_tensor_t rev = run_plan(B.cuda_exec, p, rev_cuda, rev_rows, R, prec, &w->x);
    double dr = cv_test_rel_diff(&rev, &cpu_rev);
    printf("  members reversed: vs CPU %.2e\n", dr);
    if (!(dr <= tolerance(prec))) fail_msg("%s: members reversed, vs CPU %g", precision_name(prec), dr);
    cv_tensor_free(&rev);
    cv_tensor_free(&cpu_rev);
}

static void chain_wave_free(chain_wave_t *w)
{
    cv_tensor_free(&w->cpu);
    cv_tensor_free(&w->x);
    cv_plan_destroy(w->plan);
    tenants_free(&w->tn);
}

/* A wave of 5 tenants (1 or 2 rows each) of build_half_chain in FP16 and
 * BF16, with half activations (the default) and without
 * (CARAVEL_HALF_ACTIVATIONS=fp32), with each depthwise kernel (the direct
 * one with the MaxPool in half, CARAVEL_HALF_POOLS=half; the tiled one
 * with it FP32), and 1x1 convolutions by cuBLAS or by the fused half
 * pointwise kernel: both
 * within the precision's tolerance of the CPU's FP32 wave, each slice
 * within it of its tenant alone, and the two ways not bit-identical (the
 * half one rounds every activation: were it not taken, this would fail). */
static void test_half_activations(void **state)
{
    enum { R = 5 };
    cv_cuda_t *cuda = (cv_cuda_t *)B.cuda;
    bool was_half = cuda->half_activations, was_tiled = cuda->depthwise_tiled, was_pools = cuda->half_pools;
    int64_t was_own = cuda->pointwise_own_max_k;
    cv_precision_t precs[2] = {CV_PRECISION_FP16, CV_PRECISION_BF16};
    for (int pi = 0; pi < 2; pi++) {
        cv_precision_t prec = precs[pi];
        tenants_t tn;
        half_chain_load(&tn, R, prec, 1000, 1000, 8);
        int64_t rows[R], total = 0;
        for (int t = 0; t < R; t++) total += rows[t] = 1 + t % 2;
        int fused = 0;
        for (int i = 0; i < tn.graphs[0]->nnodes; i++) fused += !tn.graphs[0]->nodes[i].dead && tn.graphs[0]->nodes[i].fused_residual;
        assert_int_equal(fused, 2);
        cv_shape_t xs = CV_TEST_SHAPE(total, 16, 8, 8);
        cv_tensor_t x;
        assert_int_equal(cv_tensor_alloc(&x, CV_DTYPE_FP32, &xs), CV_STATUS_OK);
        cv_test_fill_random(&x, 77);
        cv_plan_t *plan = plan_of(tn.graphs[0], &xs);
        assert_true(plan->stackable);
        int marked = 0;
        for (int v = 0; v < tn.graphs[0]->nvalues; v++) marked += plan->values[v].half_ok;
        assert_int_equal(marked, 7); /* a1, m1 (the MaxPool), a2 .. a6 */
        int by_pool = 0;
        for (int v = 0; v < tn.graphs[0]->nvalues; v++) by_pool += plan->values[v].half_by_pool;
        assert_int_equal(by_pool, 2); /* a1 and m1 */
        cv_tensor_t cpu = run_plan(B.cpu_exec, plan, tn.cpu_tables, rows, R, CV_PRECISION_FP32, &x);
        for (int way = 0; way < 4; way++) {
            /* A plan of its own for each way: a graph the super-kernel
             * cache captured of one plan never replays for the other. */
            bool tiled = way & 1, own = way & 2;
            cuda->depthwise_tiled = tiled;
            cuda->half_pools = !tiled;
            cuda->pointwise_own_max_k = own ? INT64_MAX : 0;
            long pointwise_runs = cuda->pointwise_half_launches;
            cuda->half_activations = false;
            cv_plan_t *plan_f32 = plan_of(tn.graphs[0], &xs), *plan_half = plan_of(tn.graphs[0], &xs);
            cv_tensor_t f32 = run_plan(B.cuda_exec, plan_f32, tn.cuda_tables, rows, R, prec, &x);
            cuda->half_activations = true;
            cv_tensor_t half = run_plan(B.cuda_exec, plan_half, tn.cuda_tables, rows, R, prec, &x);
            cv_plan_destroy(plan_f32);
            cv_plan_destroy(plan_half);
            /* c3 and c7 in the half pointwise kernel when asked, else cuBLAS. */
            long ran = cuda->pointwise_half_launches - pointwise_runs;
            if (own ? ran < 2 : ran != 0) fail_msg("the half pointwise kernel ran %ld times, asked %s", ran, own ? "own" : "cuBLAS");
            double d_half = cv_test_rel_diff(&half, &cpu), d_f32 = cv_test_rel_diff(&f32, &cpu);
            double d_ways = cv_test_rel_diff(&half, &f32);
            printf("  %s, %s depthwise, MaxPool in %s, 1x1 by %s: half activations vs CPU %.2e, FP32 activations "
                   "vs CPU %.2e, the two %.2e\n",
                   precision_name(prec), tiled ? "tiled" : "direct", tiled ? "FP32" : "half",
                   own ? "the half kernel" : "cuBLAS", d_half, d_f32, d_ways);
            if (!(d_half <= tolerance(prec) && d_f32 <= tolerance(prec)))
                fail_msg("%s: CUDA vs CPU: half activations %g, FP32 activations %g", precision_name(prec), d_half,
                         d_f32);
            assert_true(d_ways > 0);
            printf("    slice vs solo %.2e\n", slices_vs_solo(&tn, rows, prec, &x, &half, "half activations"));
            cv_tensor_free(&f32);
            cv_tensor_free(&half);
        }
        cv_tensor_free(&cpu);
        cv_tensor_free(&x);
        cv_plan_destroy(plan);
        tenants_free(&tn);
    }
    cuda->half_activations = was_half;
    cuda->depthwise_tiled = was_tiled;
    cuda->pointwise_own_max_k = was_own;
    cuda->half_pools = was_pools;
}

/* The chain on 9x9 planes (81 pixels, then 25 after the stride-2
 * depthwise; 40, 72 and 64 channels: partial tiles of channels_epilogue
 * both ways; odd planes: the scalar epilogues and im2col) and on 8x8
 * planes (64 and 16 pixels: channels_epilogue2_kernel's channel and pixel
 * pairs, epilogue_vec_kernel, im2col2d_kernel), whose GEMM convolutions
 * all write C channels innermost when asked (CARAVEL_CONV_C=channels):
 * the 3x3s from columns, the 1x1s from X itself, c2 and c6 with K split
 * (FP32 parts laid out alike), c2 and c7 with the residual fused; with the
 * columns as NCHW (pixels) and K-contiguous (taps, CARAVEL_CONV_COLUMNS:
 * c1 from FP32 X, the others from half X, 1x1s copied), the latter with
 * the narrow tiles a wave this small gets, with the widest (32
 * channels: 40 = 32 + a partial tile of 8; runs of 16 where 16 | C); both
 * kinds of columns from the im2col kernels' first versions and from the
 * tuned ones (CARAVEL_IM2COL=tuned: the 3x3s on 8x8 and 4x4 planes take
 * im2col2d_kernel's W3 form). A wave of 5 tenants each way
 * and with C in planes: each within tolerance of the CPU's FP32 wave and
 * of C in planes, each slice within it of its tenant alone, and each way
 * taken (counted) only where asked. */
static void test_conv_channels_c(void **state)
{
    enum { R = CHAIN_R, WAYS = 8 };
    /* channels_c, k_major, wide tiles, the im2col kernels' first versions,
     * the epilogue by spans (every GEMM convolution of the chain has 8 | Mg) */
    static const struct {
        const char *name;
        bool channels, taps, wide, first, spans;
    } ways[WAYS] = {
        {"planes", false, false, false, false, false},
        {"channels, pixel columns", true, false, false, false, false},
        {"channels, tap columns", true, true, false, false, false},
        {"channels, tap columns, wide tiles", true, true, true, false, false},
        {"channels, tap columns, first im2col", true, true, false, true, false},
        {"channels, pixel columns, first im2col", true, false, false, true, false},
        {"channels, tap columns, span epilogue", true, true, false, false, true},
        {"channels, pixel columns, span epilogue", true, false, false, false, true},
    };
    cv_cuda_t *cuda = (cv_cuda_t *)B.cuda;
    bool was = cuda->conv_channels_c, was_k = cuda->conv_k_major, was_wide = cuda->k_major_wide_tiles;
    bool was_tuned = cuda->im2col_tuned, was_spans = cuda->channels_spans;
    bool was_cutlass = cuda->conv_cutlass, was_pools = cuda->half_pools;
    cuda->conv_cutlass = false; /* the fused GEMMs would take the 8x8 planes: test_conv_fused */
    cuda->half_pools = true;
    cv_precision_t precs[2] = {CV_PRECISION_FP16, CV_PRECISION_BF16};
    for (int case_i = 0; case_i < 4; case_i++) {
        cv_precision_t prec = precs[case_i % 2];
        int64_t hw = case_i < 2 ? 9 : 8;
        printf(" %s, %lldx%lld planes\n", precision_name(prec), (long long)hw, (long long)hw);
        chain_wave_t w;
        chain_wave_make(&w, prec, 1500, 500, hw, 91);
        cv_tensor_t out[WAYS];
        for (int way = 0; way < WAYS; way++) {
            const char *name = ways[way].name;
            cuda->conv_channels_c = ways[way].channels;
            cuda->conv_k_major = ways[way].taps;
            cuda->k_major_wide_tiles = ways[way].wide;
            cuda->im2col_tuned = !ways[way].first;
            cuda->channels_spans = ways[way].spans;
            long before = cuda->conv_channels_c_launches, before_k = cuda->conv_k_major_launches;
            long before_spans = cuda->conv_channels_span_launches;
            cv_plan_t *p = plan_of(w.tn.graphs[0], &w.x.shape); /* a plan per way: no graph of the other's replays */
            out[way] = run_plan(B.cuda_exec, p, w.tn.cuda_tables, w.rows, R, prec, &w.x);
            long ran = cuda->conv_channels_c_launches - before, ran_k = cuda->conv_k_major_launches - before_k;
            /* c1, c2, c3, c6, c7: the GEMM convolutions (c4, c5 are depthwise) */
            if ((ways[way].channels ? ran < 5 : ran != 0) || (ways[way].taps ? ran_k < 5 : ran_k != 0))
                fail_msg("%s, C in %s: %ld convolutions wrote C channels innermost, %ld from tap columns",
                         precision_name(prec), name, ran, ran_k);
            long ran_spans = cuda->conv_channels_span_launches - before_spans;
            if (ran_spans != (ways[way].spans ? ran : 0))
                fail_msg("%s, C in %s: %ld of %ld channels epilogues by spans", precision_name(prec), name, ran_spans,
                         ran);
            double d = cv_test_rel_diff(&out[way], &w.cpu);
            if (!(d <= tolerance(prec))) fail_msg("%s, C in %s: CUDA vs CPU %g", precision_name(prec), name, d);
            double worst_solo = slices_vs_solo(&w.tn, w.rows, prec, &w.x, &out[way], name);
            printf("  %s, C in %s (%ld convolutions so): vs CPU %.2e, slice vs solo %.2e\n", precision_name(prec),
                   name, ran, d, worst_solo);
            cv_plan_destroy(p);
        }
        const char *names[WAYS];
        for (int way = 0; way < WAYS; way++) names[way] = ways[way].name;
        ways_agree(out, WAYS, names, prec);
        chain_wave_free(&w);
    }
    cuda->conv_channels_c = was;
    cuda->conv_k_major = was_k;
    cuda->k_major_wide_tiles = was_wide;
    cuda->im2col_tuned = was_tuned;
    cuda->channels_spans = was_spans;
    cuda->conv_cutlass = was_cutlass;
    cuda->half_pools = was_pools;
}

/* Activations of small planes stored channels innermost
 * (CARAVEL_SMALL_PLANES=nhwc, cv_cuda_t.small_planes_nhwc): a wave of 5
 * tenants of build_nhwc_chain in FP16 and BF16 (and FP32, TF32), on 9x9
 * planes (81 pixels, then 25) and 14x14 (196, then 49: ResNet-50's), with 24 middle channels
 * and with 20 (v2 then stays in planes, 8 not dividing its channels), and
 * on 24x24 (576, then 144), where the default bound of 400 pixels keeps
 * v1 .. v3 in planes and CARAVEL_NHWC_PIXELS=4096 does not.
 * The plan marks v1 .. v6; each Conv reads (c2 .. c7) and writes (c1 ..
 * c6) them as counted, but for c2 and c3 with 20; with the epilogue by
 * spans asked for, c7 (Y in planes, its residual channels innermost)
 * still takes the tiles, and with the half pointwise kernel asked for
 * (CARAVEL_POINTWISE=own) no 1x1 that touches such a value takes it.
 * With CUTLASS asked for those Ys (CARAVEL_NHWC_GEMM=cutlass, and
 * fused_everywhere for the narrow ones and the split K), every Conv
 * writing such a Y from K-contiguous columns is one fused launch in FP16
 * (none in BF16 or FP32; in TF32 those with X channels innermost too).
 * Each way within tolerance of the CPU's FP32 wave and of the same wave
 * with every activation in planes, each slice within it of its tenant
 * alone, and the plan again with the members in the other order (its
 * cached graph rebound) within it of the CPU's. */
static void test_small_planes_nhwc(void **state)
{
    enum { R = CHAIN_R };
    enum { WAYS = 4 };
    cv_cuda_t *cuda = (cv_cuda_t *)B.cuda;
    bool was = cuda->small_planes_nhwc, was_spans = cuda->channels_spans, was_nhwc_cutlass = cuda->nhwc_cutlass;
    bool was_everywhere = cuda->fused_everywhere;
    int64_t was_own = cuda->pointwise_own_max_k;
    static const char *names[WAYS] = {"planes", "channels innermost",
                                      "channels innermost, spans and the half pointwise kernel asked",
                                      "channels innermost, CUTLASS"};
    bool cutlass = cv_cutlass_available() && cv_cutlass_device_is_hopper(cuda->device);
    bool was_cutlass = cuda->conv_cutlass;
    int64_t was_pixels = cuda->nhwc_max_pixels;
    /* Convs reading and writing channels innermost, and (FP16, CUTLASS
     * way) fused: on 24x24 planes (576 pixels) only v4 .. v6 (12x12) keep
     * the layout under the default 400, and c1 .. c3 fuse in planes; with
     * 20 middle channels c3 reads no K-contiguous columns (8 does not
     * divide them), which CUTLASS's kernel needs. FP32 and TF32 waves keep
     * their activations FP32 and channels innermost alike; TF32's Convs
     * with X and Y channels innermost fuse (c1's X, the FP32 input in
     * planes, makes no K-contiguous columns in FP32; c7 writes planes),
     * FP32's none. */
    const struct {
        cv_precision_t prec;
        int64_t hw, mid, max_pixels;
        long reads, writes, fused, pointwise; /* pointwise: 1x1s the half pointwise kernel may take (c2 in planes) */
    } cases[] = {{CV_PRECISION_FP16, 9, 24, 400, 6, 6, 6, 0},  {CV_PRECISION_BF16, 9, 24, 400, 6, 6, 0, 0},
                 {CV_PRECISION_FP16, 14, 24, 400, 6, 6, 6, 0}, {CV_PRECISION_FP16, 14, 20, 400, 5, 5, 4, 0},
                 {CV_PRECISION_BF16, 14, 20, 400, 5, 5, 0, 0}, {CV_PRECISION_FP16, 24, 24, 400, 2, 3, 6, 1},
                 {CV_PRECISION_FP16, 24, 24, 4096, 6, 6, 6, 0}, {CV_PRECISION_FP32, 9, 24, 400, 6, 6, 0, 0},
                 {CV_PRECISION_TF32, 14, 24, 400, 6, 6, 5, 0}, {CV_PRECISION_TF32, 9, 20, 400, 5, 5, 3, 0}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        cv_precision_t prec = cases[ci].prec;
        int64_t hw = cases[ci].hw, mid = cases[ci].mid;
        cuda->nhwc_max_pixels = cases[ci].max_pixels;
        chain_wave_t w;
        tenants_alloc(&w.tn, R);
        for (int i = 0; i < R; i++) {
            w.tn.graphs[i] = build_nhwc_chain(3000 + (uint64_t)i * 700, hw, mid);
            tenant_upload_both(&w.tn, i, prec);
        }
        chain_wave_fill(&w, hw, 23);
        int marked = 0;
        for (int v = 0; v < w.tn.graphs[0]->nvalues; v++) marked += w.plan->values[v].channels_inner_ok;
        assert_int_equal(marked, 6); /* v1 .. v6 */
        cv_tensor_t out[WAYS];
        for (int way = 0; way < WAYS; way++) {
            const char *name = names[way];
            cuda->small_planes_nhwc = way > 0;
            cuda->channels_spans = way == 2;
            cuda->nhwc_cutlass = cuda->fused_everywhere = cuda->conv_cutlass = way == 3;
            cuda->pointwise_own_max_k = way == 2 ? INT64_MAX : was_own;
            long own0 = cuda->pointwise_half_launches;
            long x0 = cuda->conv_nhwc_x_launches, y0 = cuda->conv_nhwc_y_launches;
            long spans0 = cuda->conv_channels_span_launches, fused0 = cuda->conv_fused_launches;
            cv_plan_t *p = plan_of(w.tn.graphs[0], &w.x.shape); /* a plan per way: no graph of the other's replays */
            out[way] = run_plan(B.cuda_exec, p, w.tn.cuda_tables, w.rows, R, prec, &w.x);
            long xs = cuda->conv_nhwc_x_launches - x0, ys = cuda->conv_nhwc_y_launches - y0;
            long spans = cuda->conv_channels_span_launches - spans0;
            long want_x = way ? cases[ci].reads : 0, want_y = way ? cases[ci].writes : 0;
            if (xs != want_x || ys != want_y)
                fail_msg("%s, %lldx%lld, mid %lld, %s: %ld convolutions read and %ld wrote channels innermost, "
                         "expected %ld and %ld", precision_name(prec), (long long)hw, (long long)hw, (long long)mid,
                         name, xs, ys, want_x, want_y);
            /* c7 writes planes from a residual channels innermost: the
             * tiles, not spans (which read a residual in planes); c2
             * with 20 channels: no spans either (8 does not divide them) */
            if (way == 2 && spans != 0) fail_msg("%s, mid %lld: %ld epilogues by spans", name, (long long)mid, spans);
            /* a 1x1 of stride 1 that reads or writes channels innermost
             * never takes the half pointwise kernel (it reads planes) */
            if (way == 2 && cuda->pointwise_half_launches - own0 != cases[ci].pointwise)
                fail_msg("%s: the half pointwise kernel ran %ld times, expected %ld", name,
                         cuda->pointwise_half_launches - own0, cases[ci].pointwise);
            /* CUTLASS writes every Y channels innermost in FP16 (c1's 32
             * channels too: fused_everywhere), none in BF16; the other
             * ways keep cuBLAS */
            long fused = cuda->conv_fused_launches - fused0;
            long want_fused = way == 3 && cutlass ? cases[ci].fused : 0;
            if (fused != want_fused)
                fail_msg("%s, %lldx%lld, mid %lld, %s: %ld fused conv launches, expected %ld", precision_name(prec),
                         (long long)hw, (long long)hw, (long long)mid, name, fused, want_fused);
            double d = cv_test_rel_diff(&out[way], &w.cpu);
            printf(" %s, %lldx%lld, mid %lld, %s (%ld read, %ld written so): vs CPU %.2e\n", precision_name(prec),
                   (long long)hw, (long long)hw, (long long)mid, name, xs, ys, d);
            if (!(d <= tolerance(prec))) fail_msg("%s, %s: CUDA vs CPU %g", precision_name(prec), name, d);
            printf("  slice vs solo %.2e\n", slices_vs_solo(&w.tn, w.rows, prec, &w.x, &out[way], name));
            if (way > 0) members_reversed(&w, p, prec);
            cv_plan_destroy(p);
        }
        ways_agree(out, WAYS, names, prec);
        chain_wave_free(&w);
    }
    cuda->small_planes_nhwc = was;
    cuda->channels_spans = was_spans;
    cuda->nhwc_cutlass = was_nhwc_cutlass;
    cuda->fused_everywhere = was_everywhere;
    cuda->pointwise_own_max_k = was_own;
    cuda->conv_cutlass = was_cutlass;
    cuda->nhwc_max_pixels = was_pixels;
}

/* The FP16 conv GEMMs with their epilogue fused in (CUTLASS,
 * cuda_cutlass.cu; cv_cuda_t.conv_cutlass): a wave of 5 tenants of
 * build_half_chain. On 8x8 planes (rows of 16 bytes: pixel columns, the
 * TMA epilogue) c6 (3x3 on 4x4 planes, 64 channels) takes it, and with
 * narrow GEMMs allowed (fused_everywhere) also c1 (3x3 of the FP32 input,
 * Relu), c2 (3x3 with the half residual and Relu) and c3 (1x1 reading
 * half X directly, no bias, no clamp). On 9x9 planes (81 and 25 pixels:
 * K-contiguous tap columns, plane_epilogue writing element by element) the
 * rule takes none (c6's K is split: too few tiles for 5 rows), and
 * everywhere the same four. c7 (FP32 Y) never does, nor BF16. Each way
 * within tolerance of the CPU's FP32 wave and of the cuBLAS way, each
 * slice within it of its tenant alone (fused too), the same plan again
 * with the members in the other order (its tables rebound) within it of
 * the CPU's. Skips where the build has no CUTLASS. */
static void test_conv_fused(void **state)
{
    enum { R = CHAIN_R };
    if (!cv_cutlass_available()) {
        printf(" skipped: built without CUTLASS (scripts/setup.sh installs its headers)\n");
        return;
    }
    cv_cuda_t *cuda = (cv_cuda_t *)B.cuda;
    bool was = cuda->conv_cutlass, was_everywhere = cuda->fused_everywhere, was_pools = cuda->half_pools;
    bool was_small = cuda->cutlass_small_planes;
    cuda->half_pools = true; /* c1 writes and c2 reads the MaxPool's half activations */
    cuda->cutlass_small_planes = true; /* the 9x9 cases' kernels (CARAVEL_CUTLASS_PLANES=all) */
    const struct { cv_precision_t prec; int64_t hw; bool everywhere; long fused; } cases[] = {
        {CV_PRECISION_FP16, 8, false, 1}, {CV_PRECISION_FP16, 8, true, 4}, {CV_PRECISION_FP16, 9, false, 0},
        {CV_PRECISION_FP16, 9, true, 4},  {CV_PRECISION_BF16, 8, true, 0}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        cv_precision_t prec = cases[ci].prec;
        int64_t hw = cases[ci].hw;
        cuda->fused_everywhere = cases[ci].everywhere;
        chain_wave_t w;
        chain_wave_make(&w, prec, 2500, 300, hw, 57);
        cv_tensor_t out[2];
        for (int way = 0; way < 2; way++) {
            cuda->conv_cutlass = way == 1;
            long before = cuda->conv_fused_launches;
            cv_plan_t *p = plan_of(w.tn.graphs[0], &w.x.shape); /* a plan per way: no graph of the other's replays */
            out[way] = run_plan(B.cuda_exec, p, w.tn.cuda_tables, w.rows, R, prec, &w.x);
            long ran = cuda->conv_fused_launches - before;
            long want = way == 1 ? cases[ci].fused : 0;
            if (ran != want)
                fail_msg("%s, %lldx%lld, %s: %ld fused conv launches, expected %ld", precision_name(prec),
                         (long long)hw, (long long)hw, way ? "cutlass" : "cublas", ran, want);
            double d = cv_test_rel_diff(&out[way], &w.cpu);
            if (!(d <= tolerance(prec)))
                fail_msg("%s, %lldx%lld, %s: CUDA vs CPU %g", precision_name(prec), (long long)hw, (long long)hw,
                         way ? "cutlass" : "cublas", d);
            double worst_solo = slices_vs_solo(&w.tn, w.rows, prec, &w.x, &out[way], way ? "cutlass" : "cublas");
            printf(" %s, %lldx%lld%s, %s (%ld fused): vs CPU %.2e, slice vs solo %.2e\n", precision_name(prec),
                   (long long)hw, (long long)hw, cases[ci].everywhere ? ", everywhere" : "", way ? "cutlass" : "cublas",
                   ran, d, worst_solo);
            if (way == 1) members_reversed(&w, p, prec);
            cv_plan_destroy(p);
        }
        double d_ways = cv_test_rel_diff(&out[1], &out[0]);
        printf("  cutlass vs cublas %.2e\n", d_ways);
        if (!(d_ways <= tolerance(prec))) fail_msg("%s: cutlass vs cublas %g", precision_name(prec), d_ways);
        for (int way = 0; way < 2; way++) cv_tensor_free(&out[way]);
        chain_wave_free(&w);
    }
    cuda->conv_cutlass = was;
    cuda->fused_everywhere = was_everywhere;
    cuda->half_pools = was_pools;
    cuda->cutlass_small_planes = was_small;
}

/* The FP32 conv GEMMs in 3xTF32 and the TF32 ones in CUTLASS's kernels
 * (cuda_cutlass_fp32.cu; cv_cuda_t.fp32_3xtf32, tf32_cutlass): a wave of 5
 * tenants of build_half_chain on 8x8 planes (64 and 16 pixels: loads of 4
 * floats, the 64-wide tiles; c6's K split in 4 parts of 162, one float at
 * a time), 9x9 (81 and 25: one float at a time, both tile widths) and
 * 12x12 (144 and 36: 4 floats, both widths; c2's K split in 2 parts of
 * 180), in FP32 on each and in TF32 on 9x9 and 12x12. The five GEMM
 * convolutions (c1, c2, c3 and c7 reading X directly, c6) each take the
 * kernels once, against none by cuBLAS, and the three whose K is whole
 * with the epilogue inside (c1 with its Relu, c3 without a bias, c7 with
 * the residual); c2 and c6 (K split) keep the epilogue pass, which sums
 * the parts. Each way within the precision's
 * tolerance of the CPU's wave and of the other (FP32's is 1e-5, which
 * TF32's single product would not meet: 3xTF32 keeps FP32's accuracy),
 * each slice within it of its tenant alone, and the same plan with the
 * members in the other order (its tables rebound) within it of the
 * CPU's. Skips where the build has no CUTLASS. */
static void test_conv_cutlass_fp32(void **state)
{
    enum { R = CHAIN_R };
    if (!cv_cutlass_available()) {
        printf(" skipped: built without CUTLASS (scripts/setup.sh installs its headers)\n");
        return;
    }
    cv_cuda_t *cuda = (cv_cuda_t *)B.cuda;
    bool was_3x = cuda->fp32_3xtf32, was_tf32 = cuda->tf32_cutlass;
    const struct { cv_precision_t prec; int64_t hw; } cases[] = {
        {CV_PRECISION_FP32, 8}, {CV_PRECISION_FP32, 9}, {CV_PRECISION_FP32, 12},
        {CV_PRECISION_TF32, 9}, {CV_PRECISION_TF32, 12}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        cv_precision_t prec = cases[ci].prec;
        int64_t hw = cases[ci].hw;
        bool fp32 = prec == CV_PRECISION_FP32;
        long *launches = fp32 ? &cuda->conv_3xtf32_launches : &cuda->conv_tf32_cutlass_launches;
        chain_wave_t w;
        chain_wave_make(&w, prec, 3500, 200, hw, 71);
        cv_tensor_t out[2];
        for (int way = 0; way < 2; way++) {
            const char *name = way == 0 ? "cuBLAS" : fp32 ? "3xTF32" : "CUTLASS TF32";
            cuda->fp32_3xtf32 = way == 1 && fp32;
            cuda->tf32_cutlass = way == 1 && !fp32;
            long before = *launches, before_fused = cuda->conv_fused_f32_launches;
            cv_plan_t *p = plan_of(w.tn.graphs[0], &w.x.shape); /* a plan per way: no graph of the other's replays */
            out[way] = run_plan(B.cuda_exec, p, w.tn.cuda_tables, w.rows, R, prec, &w.x);
            long ran = *launches - before, want = way == 1 ? 5 : 0;
            long fused = cuda->conv_fused_f32_launches - before_fused, want_fused = way == 1 ? 3 : 0;
            if (ran != want || fused != want_fused)
                fail_msg("%s, %lldx%lld, %s: %ld CUTLASS GEMMs (%ld fused), expected %ld (%ld)", precision_name(prec),
                         (long long)hw, (long long)hw, name, ran, fused, want, want_fused);
            double d = cv_test_rel_diff(&out[way], &w.cpu);
            if (!(d <= tolerance(prec)))
                fail_msg("%s, %lldx%lld, %s: CUDA vs CPU %g", precision_name(prec), (long long)hw, (long long)hw, name,
                         d);
            double worst_solo = slices_vs_solo(&w.tn, w.rows, prec, &w.x, &out[way], name);
            printf(" %s, %lldx%lld, %s (%ld CUTLASS GEMMs, %ld fused): vs CPU %.2e, slice vs solo %.2e\n",
                   precision_name(prec), (long long)hw, (long long)hw, name, ran, fused, d, worst_solo);
            if (way == 1) members_reversed(&w, p, prec);
            cv_plan_destroy(p);
        }
        double d_ways = cv_test_rel_diff(&out[1], &out[0]);
        printf("  CUTLASS vs cuBLAS %.2e\n", d_ways);
        if (!(d_ways <= tolerance(prec))) fail_msg("%s: CUTLASS vs cuBLAS %g", precision_name(prec), d_ways);
        for (int way = 0; way < 2; way++) cv_tensor_free(&out[way]);
        chain_wave_free(&w);
    }
    cuda->fp32_3xtf32 = was_3x;
    cuda->tf32_cutlass = was_tf32;
}

/* ---- (b2) a wave's copies in one call ----------------------------------- */

/* copy_many, by the copy kernel (kernel) or one cudaMemcpyBatchAsync:
 * batches between pinned request blocks and device memory, of sizes that
 * take the kernel's 16-byte path and its byte path (odd lengths, an odd
 * offset), empty copies among them, arrive whole both ways; a batch with a
 * pageable host side takes the cudaMemcpyAsync path and is just as right.
 * The blocks come from another backend (host_alloc), as request buffers
 * come from the runtime's backend and lanes' backends copy them: each
 * pinned batch must take the one-call way, counted. */
static void run_copy_many(bool kernel)
{
    cv_cuda_t *cuda = (cv_cuda_t *)B.cuda;
    const cv_backend_i *be = B.cuda->iface;
    bool was = cuda->copy_kernel;
    cuda->copy_kernel = kernel;
    cv_backend_t *owner;
    cv_err_t made;
    assert_int_equal(cv_backend_cuda_create(0, &owner, &made), CV_STATUS_OK);
    enum { N = 7 };
    const size_t sizes[N] = {602112, 0, 1, 15, 16, 4099, 70000};
    const size_t offsets[N] = {0, 0, 0, 3, 16, 1, 5};
    cv_err_t err;
    unsigned char *src[N], *back[N], *pageable[N];
    void *dev;
    size_t total = 0;
    for (int k = 0; k < N; k++) total += sizes[k] + 64;
    assert_int_equal(be->alloc(B.cuda, total, &dev, &err), CV_STATUS_OK);
    for (int pass = 0; pass < 2; pass++) { /* pinned, then a pageable source */
        cv_copy_t up[N], down[N];
        size_t at = 0;
        for (int k = 0; k < N; k++) {
            assert_int_equal(be->host_alloc(owner, sizes[k] + 16, (void **)&src[k], &err), CV_STATUS_OK);
            assert_int_equal(be->host_alloc(owner, sizes[k] + 16, (void **)&back[k], &err), CV_STATUS_OK);
            pageable[k] = cv_malloc(sizes[k] + 16);
            assert_non_null(pageable[k]);
            for (size_t i = 0; i < sizes[k] + 16; i++) {
                src[k][i] = (unsigned char)(i * 131 + k * 7 + pass);
                pageable[k][i] = src[k][i];
                back[k][i] = 0xEE;
            }
            const unsigned char *from = (pass == 1 && k == 3 ? pageable[k] : src[k]) + offsets[k];
            up[k] = (cv_copy_t){(char *)dev + at + offsets[k], from, sizes[k]};
            down[k] = (cv_copy_t){back[k] + offsets[k], (char *)dev + at + offsets[k], sizes[k]};
            at += sizes[k] + 64;
        }
        long one_call = kernel ? cuda->batches_by_kernel : cuda->batches_by_batch_call;
        assert_int_equal(be->copy_many(B.cuda, up, N, true, &err), CV_STATUS_OK);
        assert_int_equal(be->copy_many(B.cuda, down, N, false, &err), CV_STATUS_OK);
        assert_int_equal(be->synchronize(B.cuda, &err), CV_STATUS_OK);
        /* Pass 0: both batches in one call each; pass 1: the upload, with
         * its pageable source, one by one. */
        long now = kernel ? cuda->batches_by_kernel : cuda->batches_by_batch_call;
        if (now - one_call != (pass == 0 ? 2 : 1))
            fail_msg("pass %d: %ld of 2 batches went as one %s", pass, now - one_call,
                     kernel ? "kernel" : "cudaMemcpyBatchAsync");
        for (int k = 0; k < N; k++) {
            if (memcmp(back[k] + offsets[k], src[k] + offsets[k], sizes[k]) != 0)
                fail_msg("pass %d, copy %d (%zu bytes at +%zu): not what was sent", pass, k, sizes[k], offsets[k]);
            for (size_t i = 0; i < offsets[k]; i++) assert_int_equal(back[k][i], 0xEE);
            for (size_t i = offsets[k] + sizes[k]; i < sizes[k] + 16; i++) assert_int_equal(back[k][i], 0xEE);
            be->host_free(owner, src[k]);
            be->host_free(owner, back[k]);
            cv_free(pageable[k]);
        }
    }
    be->free(B.cuda, dev);
    owner->iface->destroy(owner);
    cuda->copy_kernel = was;
}

static void test_copy_kernel(void **state) { run_copy_many(true); }
static void test_copy_batched(void **state) { run_copy_many(false); }

/* ---- (c) failures and fallbacks ------------------------------------------- */

static void test_alloc_failure(void **state)
{
    cv_err_t err;
    void *p = (void *)1;
    assert_int_equal(B.cuda->iface->alloc(B.cuda, (size_t)1 << 50, &p, &err), CV_STATUS_OUT_OF_MEMORY);
    assert_null(p);
    printf("  alloc(2^50): %s\n", err.msg);
    assert_non_null(strstr(err.msg, "1125899906842624"));
    /* The backend still works: a round trip, then a whole wave. */
    float in[5] = {1, -2, 3.5f, 4, 5}, out[5] = {0};
    assert_int_equal(B.cuda->iface->alloc(B.cuda, sizeof in, &p, &err), CV_STATUS_OK);
    assert_int_equal(B.cuda->iface->upload(B.cuda, p, in, sizeof in, &err), CV_STATUS_OK);
    assert_int_equal(B.cuda->iface->download(B.cuda, out, p, sizeof out, &err), CV_STATUS_OK);
    assert_memory_equal(in, out, sizeof in);
    B.cuda->iface->free(B.cuda, p);
    check_wave(2, CV_PRECISION_FP32);
}

/* MatMul by a weight with batch dims in a wave of several tenants has no
 * CUDA path: it runs on the host, per slice, counted, and still right. */
static void test_host_fallback(void **state)
{
    cv_graph_t *graphs[3];
    void **cpu_tables[3], **cuda_tables[3];
    cv_err_t err;
    for (int i = 0; i < 3; i++) {
        cv_graph_t *g = graphs[i] = cv_test_graph_new("fallback", 17, true);
        int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 2, 3, 4));
        int w = cv_test_graph_weight(g, "w", CV_TEST_SHAPE(2, 4, 5), 50 + (uint64_t)i);
        int n = cv_test_graph_node(g, CV_OP_MATMUL, (int[]){x, w}, 2, "y");
        cv_test_graph_output(g, cv_test_graph_out(g, n));
        assert_int_equal(cv_ir_prepare(g, cv_backend_cpu_ctx(B.cpu), &err), CV_STATUS_OK);
        assert_int_equal(B.cpu->iface->tenant_upload(B.cpu, g, CV_PRECISION_FP32, NULL, &cpu_tables[i], &err), CV_STATUS_OK);
        assert_int_equal(B.cuda->iface->tenant_upload(B.cuda, g, CV_PRECISION_FP32, NULL, &cuda_tables[i], &err),
                         CV_STATUS_OK);
    }
    int64_t rows[3] = {2, 1, 3};
    cv_shape_t xs = CV_TEST_SHAPE(6, 2, 3, 4);
    cv_tensor_t x;
    assert_int_equal(cv_tensor_alloc(&x, CV_DTYPE_FP32, &xs), CV_STATUS_OK);
    cv_test_fill_random(&x, 5);
    cv_plan_t *plan = plan_of(graphs[0], &xs);
    assert_true(plan->stackable);
    const cv_cuda_t *cuda = (const cv_cuda_t *)B.cuda;
    long before = cuda->fallbacks[CV_OP_MATMUL];
    cv_tensor_t gpu = run_plan(B.cuda_exec, plan, cuda_tables, rows, 3, CV_PRECISION_FP32, &x);
    cv_tensor_t cpu = run_plan(B.cpu_exec, plan, cpu_tables, rows, 3, CV_PRECISION_FP32, &x);
    assert_int_equal(cuda->fallbacks[CV_OP_MATMUL], before + 1);
    assert_true(cv_test_rel_diff(&gpu, &cpu) <= 1e-6);
    /* Slices kept their own weights: tenant 1's rows differ from tenant 0's. */
    cv_tensor_t alone = run_plan(B.cpu_exec, plan, (void **[]){cpu_tables[0], cpu_tables[0], cpu_tables[0]},
                                 rows, 3, CV_PRECISION_FP32, &x);
    assert_true(cv_test_rel_diff(&gpu, &alone) > 1e-3);
    cv_tensor_free(&alone);
    cv_tensor_free(&gpu);
    cv_tensor_free(&cpu);
    cv_tensor_free(&x);
    cv_plan_destroy(plan);
    for (int i = 0; i < 3; i++) {
        B.cpu->iface->tenant_release(B.cpu, graphs[i], cpu_tables[i]);
        B.cuda->iface->tenant_release(B.cuda, graphs[i], cuda_tables[i]);
        cv_graph_destroy(graphs[i]);
    }
}

/* ---- the public API on real models ------------------------------------- */

/* SqueezeNet seeds 1 and 2 through cv_runtime on CUDA: a wave of both
 * equals each alone and the references; the runtime counts its waves;
 * TF32 and FP16 tenants of seed 1 stay within their tolerances. */
static void test_runtime_squeezenet(void **state)
{
    cv_test_require_model("squeezenet1_1-seed1");
    cv_runtime_t *rt = cv_test_runtime_create(CV_DEVICE_CUDA, 1);
    cv_err_t err;
    cv_tenant_t *a = cv_test_load_model(rt, "a", "squeezenet1_1-seed1", CV_PRECISION_FP32);
    cv_tenant_t *b = cv_test_load_model(rt, "b", "squeezenet1_1-seed2", CV_PRECISION_FP32);
    cv_tensor_t in_a = cv_test_read_model_pb("squeezenet1_1-seed1", 0, "input_0.pb");
    cv_tensor_t ref_a = cv_test_read_model_pb("squeezenet1_1-seed1", 0, "output_0.pb");
    cv_tensor_t in_b = cv_test_read_model_pb("squeezenet1_1-seed2", 1, "input_0.pb");
    cv_tensor_t ref_b = cv_test_read_model_pb("squeezenet1_1-seed2", 1, "output_0.pb");
    cv_tensor_t solo_a, solo_b, wave_a, wave_b;
    assert_int_equal(cv_infer(rt, a, &in_a, &solo_a, &err), CV_STATUS_OK);
    assert_int_equal(cv_infer(rt, b, &in_b, &solo_b, &err), CV_STATUS_OK);
    cv_slice_io_t slices[2] = {{a, &in_a, &wave_a}, {b, &in_b, &wave_b}};
    if (cv_wave_run(rt, slices, 2, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    printf("  squeezenet: solo vs reference %.2e %.2e, wave vs solo %.2e %.2e\n", cv_test_rel_diff(&solo_a, &ref_a),
           cv_test_rel_diff(&solo_b, &ref_b), cv_test_rel_diff(&wave_a, &solo_a), cv_test_rel_diff(&wave_b, &solo_b));
    assert_true(cv_test_rel_diff(&solo_a, &ref_a) <= 1e-4);
    assert_true(cv_test_rel_diff(&solo_b, &ref_b) <= 1e-4);
    assert_true(cv_test_rel_diff(&wave_a, &solo_a) <= 1e-5);
    assert_true(cv_test_rel_diff(&wave_b, &solo_b) <= 1e-5);
    cv_runtime_stats_t stats;
    assert_int_equal(cv_runtime_stats(rt, &stats), CV_STATUS_OK);
    printf("  runtime stats: %ld waves, %ld fallback steps\n", stats.waves, stats.fallback_steps);
    assert_int_equal(stats.waves, 3);
    /* The tenants really differ, so a swap of weights would not pass. */
    cv_tensor_t b_on_a;
    assert_int_equal(cv_infer(rt, b, &in_a, &b_on_a, &err), CV_STATUS_OK);
    assert_true(cv_test_rel_diff(&b_on_a, &solo_a) > 1e-3);
    cv_tensor_free(&b_on_a);

    cv_precision_t reduced[2] = {CV_PRECISION_TF32, CV_PRECISION_FP16};
    for (int i = 0; i < 2; i++) {
        cv_tenant_t *t = cv_test_load_model(rt, precision_name(reduced[i]), "squeezenet1_1-seed1", reduced[i]);
        assert_true(cv_tenant_family_hash(t) != cv_tenant_family_hash(a));
        cv_tensor_t out;
        assert_int_equal(cv_infer(rt, t, &in_a, &out, &err), CV_STATUS_OK);
        double d = cv_test_rel_diff(&out, &ref_a);
        printf("  squeezenet %s vs reference: %.2e\n", precision_name(reduced[i]), d);
        assert_true(d <= (reduced[i] == CV_PRECISION_TF32 ? 1e-2 : 5e-2));
        cv_tensor_free(&out);
        cv_tenant_unload(rt, t);
    }
    cv_tensor_t *all[] = {&in_a, &in_b, &ref_a, &ref_b, &solo_a, &solo_b, &wave_a, &wave_b};
    for (size_t i = 0; i < CV_ARRAY_LEN(all); i++) cv_tensor_free(all[i]);
    cv_runtime_destroy(rt);
}

int main(void)
{
    int rc = cv_test_gpu_skip();
    if (rc) return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_fp32),
        cmocka_unit_test(test_ops_tf32),
        cmocka_unit_test(test_ops_fp16),
        cmocka_unit_test(test_ops_bf16),
        cmocka_unit_test(test_wave_r1),
        cmocka_unit_test(test_wave_r2),
        cmocka_unit_test(test_wave_r7),
        cmocka_unit_test(test_depthwise_kernels),
        cmocka_unit_test(test_ops_half_copies),
        cmocka_unit_test(test_wave_r64),
        cmocka_unit_test(test_wave_r7_reduced),
        cmocka_unit_test(test_half_activations),
        cmocka_unit_test(test_conv_channels_c),
        cmocka_unit_test(test_small_planes_nhwc),
        cmocka_unit_test(test_conv_fused),
        cmocka_unit_test(test_conv_cutlass_fp32),
        cmocka_unit_test(test_copy_kernel),
        cmocka_unit_test(test_copy_batched),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_host_fallback),
        cmocka_unit_test(test_runtime_squeezenet),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else /* !CARAVEL_WITH_CUDA */

int main(void) { return cv_test_gpu_skip(); }

#endif
