/*
 * test_gpu_kernels.c: the CUDA kernels of every op but Conv, Gemm and
 * MatMul (cuda_elementwise.cu, cuda_pool.cu, cuda_layout.cu, cuda_nn.cu)
 * against the CPU kernels, op by op.
 *
 * Each case is a one-node graph built with the IR API: random inputs, the
 * op's shape inference, its CPU kernel (cv_op_def(op)->cpu), then its CUDA
 * entry cv_cuda_<stem> called directly (so that a host fallback cannot
 * hide a missing kernel) on a hand-made cv_step_run_t of one slice, with
 * inputs uploaded through the backend's interface and outputs pre-filled
 * with garbage (an element the kernel forgets shows). Results must agree:
 * exactly for ops that only move or select values, within 1e-5 relative
 * (plus a small absolute term where the two sides round differently:
 * fused multiply-adds, summation order, transcendental functions).
 *
 * Weighted steps run as waves of several tenants (slices of 1, 2 and 3
 * rows with different weights) and must equal each tenant's rows computed
 * alone on the CPU with its own weights; running a slice with another
 * tenant's weights must differ, so the check can fail.
 *
 * Needs a GPU: exits 77 (skipped) with the reason when there is none or
 * when the build has no CUDA backend.
 */
#include "nodecase.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifdef CARAVEL_WITH_CUDA
#include "backend/cuda/cuda_internal.h"

#define MAX_SLICES 72 /* more than a fused launch takes (64) */

static cv_backend_t *G; /* the CUDA backend, shared by every test */

typedef cv_status (*entry_fn)(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err);

/* The CUDA entry of every op this file covers. */
static entry_fn entry_for(cv_op_t op)
{
    switch (op) {
#define E(id, stem)                                                                      \
    case CV_OP_##id: return cv_cuda_##stem;
        E(RELU, relu) E(LEAKY_RELU, leaky_relu) E(ELU, elu) E(SELU, selu) E(SIGMOID, sigmoid)
        E(HARD_SIGMOID, hard_sigmoid) E(HARD_SWISH, hard_swish) E(TANH, tanh) E(ERF, erf)
        E(GELU, gelu) E(SOFTPLUS, softplus) E(SQRT, sqrt) E(EXP, exp) E(LOG, log) E(NEG, neg)
        E(ABS, abs) E(CLIP, clip) E(ADD, add) E(SUB, sub) E(MUL, mul) E(DIV, div) E(POW, pow)
        E(MIN, min) E(MAX, max) E(PRELU, prelu) E(SUM, sum) E(MEAN, mean) E(EQUAL, equal)
        E(WHERE, where) E(CAST, cast)
        E(MAX_POOL, max_pool) E(AVERAGE_POOL, average_pool)
        E(GLOBAL_AVERAGE_POOL, global_average_pool) E(GLOBAL_MAX_POOL, global_max_pool)
        E(RESHAPE, reshape) E(FLATTEN, flatten) E(SQUEEZE, squeeze) E(UNSQUEEZE, unsqueeze)
        E(IDENTITY, identity) E(DROPOUT, dropout) E(TRANSPOSE, transpose) E(CONCAT, concat)
        E(SPLIT, split) E(SLICE, slice) E(GATHER, gather) E(EXPAND, expand) E(TILE, tile)
        E(PAD, pad)
        E(BATCH_NORMALIZATION, batch_normalization) E(SOFTMAX, softmax)
        E(LOG_SOFTMAX, log_softmax) E(LAYER_NORMALIZATION, layer_normalization) E(LRN, lrn)
        E(REDUCE_MEAN, reduce_mean) E(REDUCE_SUM, reduce_sum)
#undef E
    default: break;
    }
    fail_msg("no CUDA entry listed for %s", cv_op_name(op));
    return NULL;
}

/* ---- device memory -------------------------------------------------------------- */

static void *dev_upload(const cv_tensor_t *t)
{
    cv_err_t err;
    void *d;
    size_t n = cv_tensor_nbytes(t);
    assert_int_equal(G->iface->alloc(G, n + 1, &d, &err), CV_STATUS_OK);
    if (n) assert_int_equal(G->iface->upload(G, d, t->data, n, &err), CV_STATUS_OK);
    return d;
}

/* A device buffer of `bytes` filled with 0xCD. */
static void *dev_garbage(size_t bytes)
{
    cv_err_t err;
    void *d;
    assert_int_equal(G->iface->alloc(G, bytes + 1, &d, &err), CV_STATUS_OK);
    void *h = cv_malloc(bytes + 1);
    assert_non_null(h);
    memset(h, 0xCD, bytes + 1);
    assert_int_equal(G->iface->upload(G, d, h, bytes + 1, &err), CV_STATUS_OK);
    cv_free(h);
    return d;
}

static void dev_download(cv_tensor_t *host, const void *dev)
{
    cv_err_t err;
    size_t n = cv_tensor_nbytes(host);
    if (n) assert_int_equal(G->iface->download(G, host->data, dev, n, &err), CV_STATUS_OK);
}

static void dev_sync(void)
{
    cv_err_t err;
    if (!G->iface->synchronize) return;
    cv_status st = G->iface->synchronize(G, &err);
    if (st != CV_STATUS_OK) fail_msg("synchronize: %s", err.msg);
}

/* ---- cases: one-node graphs (nodecase.h) on the CUDA entry ---------------------- */

/* Runs the CUDA entry on `run` and returns its status (err set). */
static cv_status tc_launch(const cv_test_node_t *tc, const cv_step_run_t *run, cv_err_t *err)
{
    err->msg[0] = 0;
    return entry_for(tc->op)((cv_cuda_t *)G, run, err);
}

/* Infer, CPU kernel, CUDA entry (one slice), compare every output. */
static void tc_check(cv_test_node_t *tc)
{
    const cv_tensor_t *ins[CV_TEST_NODE_MAX_IN];
    cv_tensor_t cpu[CV_TEST_NODE_MAX_OUT], gpu[CV_TEST_NODE_MAX_OUT];
    cv_test_node_host_inputs(tc, ins);
    cv_test_node_infer(tc, ins, cpu);
    cv_test_node_cpu(tc, ins, cpu);

    void **consts = cv_calloc((size_t)tc->g->nvalues + 1, sizeof(void *));
    assert_non_null(consts);
    cv_tensor_t din[CV_TEST_NODE_MAX_IN], dout[CV_TEST_NODE_MAX_OUT];
    const cv_tensor_t *dp[CV_TEST_NODE_MAX_IN];
    cv_tensor_t *dop[CV_TEST_NODE_MAX_OUT];
    bool batched[CV_TEST_NODE_MAX_IN] = {false}, out_batched[CV_TEST_NODE_MAX_OUT] = {false};
    for (int i = 0; i < tc->nin; i++) {
        dp[i] = NULL;
        if (!ins[i]) continue;
        din[i] = *ins[i];
        din[i].data = dev_upload(ins[i]);
        dp[i] = &din[i];
        if (cv_test_node_is_const(tc, i)) consts[tc->values[i]] = din[i].data;
    }
    for (int o = 0; o < tc->nout; o++) {
        dout[o] = cpu[o];
        dout[o].data = dev_garbage(cv_tensor_nbytes(&cpu[o]));
        dop[o] = &dout[o];
    }
    int64_t rows = ins[0] && ins[0]->shape.ndim > 0 ? ins[0]->shape.dims[0] : 1;
    cv_wave_slice_t slice = {.row0 = 0, .rows = rows, .constants = consts};
    cv_step_run_t run = {.graph = tc->g, .plan = NULL, .step = 0, .node = &tc->g->nodes[tc->node],
                         .inputs = dp, .ninputs = tc->nin, .outputs = dop, .noutputs = tc->nout,
                         .batched = batched, .out_batched = out_batched, .slices = &slice,
                         .nslices = 1, .precision = CV_PRECISION_FP32};
    cv_err_t err;
    cv_status st = tc_launch(tc, &run, &err);
    if (st != CV_STATUS_OK)
        fail_msg("%s: CUDA entry: %s: %s", tc->label, cv_status_str(st), err.msg);
    dev_sync();
    for (int o = 0; o < tc->nout; o++) {
        cv_shape_t shape = cpu[o].shape;
        assert_int_equal(cv_tensor_alloc(&gpu[o], cpu[o].dtype, &shape), CV_STATUS_OK);
        dev_download(&gpu[o], dout[o].data);
        char what[160];
        snprintf(what, sizeof what, "%s (%s), output %d", tc->label, cv_op_name(tc->op), o);
        cv_test_compare(what, &gpu[o], &cpu[o], tc->rel, tc->abs_tol);
        cv_tensor_free(&gpu[o]);
        cv_tensor_free(&cpu[o]);
        G->iface->free(G, dout[o].data);
    }
    for (int i = 0; i < tc->nin; i++)
        if (dp[i]) G->iface->free(G, din[i].data);
    cv_free(consts);
    cv_test_node_free(tc);
}

/* ---- cases: waves of several tenants ---------------------------------------------- */

/* Runs the case as one wave of `nslices` tenants with rows[s] rows each:
 * run-time inputs are stacked along dim 0 (their dim 0 is the total), the
 * weight of input i for slice s > 0 is alt[s][i] (slice 0 has the graph's).
 * Each slice's rows of every output must equal the CPU kernel run on that
 * slice alone with its tenant's weights; slice 1 run with slice 0's
 * weights must differ from the wave's slice 1. Takes the alt tensors. */
static void tc_check_wave(cv_test_node_t *tc, int nslices, const int64_t *rows,
                          cv_tensor_t *(*alt)[CV_TEST_NODE_MAX_IN])
{
    CV_ASSERT(nslices >= 2 && nslices <= MAX_SLICES);
    int64_t total = 0, row0[MAX_SLICES];
    for (int s = 0; s < nslices; s++) {
        row0[s] = total;
        total += rows[s];
    }
    const cv_tensor_t *ins[CV_TEST_NODE_MAX_IN];
    cv_tensor_t whole[CV_TEST_NODE_MAX_OUT];
    cv_test_node_host_inputs(tc, ins);
    cv_test_node_infer(tc, ins, whole);

    /* Device: run-time inputs once, constants per slice. */
    void **consts[MAX_SLICES];
    void *owned[MAX_SLICES][CV_TEST_NODE_MAX_IN] = {{NULL}};
    cv_tensor_t din[CV_TEST_NODE_MAX_IN], dout[CV_TEST_NODE_MAX_OUT];
    const cv_tensor_t *dp[CV_TEST_NODE_MAX_IN];
    cv_tensor_t *dop[CV_TEST_NODE_MAX_OUT];
    bool batched[CV_TEST_NODE_MAX_IN] = {false}, out_batched[CV_TEST_NODE_MAX_OUT];
    cv_wave_slice_t slices[MAX_SLICES];
    for (int s = 0; s < nslices; s++) {
        consts[s] = cv_calloc((size_t)tc->g->nvalues + 1, sizeof(void *));
        assert_non_null(consts[s]);
    }
    for (int i = 0; i < tc->nin; i++) {
        dp[i] = NULL;
        if (!ins[i]) continue;
        din[i] = *ins[i];
        din[i].data = dev_upload(ins[i]);
        owned[0][i] = din[i].data;
        dp[i] = &din[i];
        if (!cv_test_node_is_const(tc, i)) {
            assert_int_equal(ins[i]->shape.dims[0], total);
            batched[i] = true;
            continue;
        }
        for (int s = 0; s < nslices; s++) {
            void *d = din[i].data;
            if (s > 0 && cv_test_node_is_weight(tc, i)) {
                assert_non_null(alt[s][i]);
                assert_true(cv_shape_equal(&alt[s][i]->shape, &ins[i]->shape));
                d = owned[s][i] = dev_upload(alt[s][i]);
            }
            consts[s][tc->values[i]] = d;
        }
    }
    for (int o = 0; o < tc->nout; o++) {
        dout[o] = whole[o];
        dout[o].data = dev_garbage(cv_tensor_nbytes(&whole[o]));
        dop[o] = &dout[o];
        out_batched[o] = true;
        assert_int_equal(whole[o].shape.dims[0] % total, 0);
    }
    for (int s = 0; s < nslices; s++)
        slices[s] = (cv_wave_slice_t){.row0 = row0[s], .rows = rows[s], .constants = consts[s]};
    cv_step_run_t run = {.graph = tc->g, .plan = NULL, .step = 0, .node = &tc->g->nodes[tc->node],
                         .inputs = dp, .ninputs = tc->nin, .outputs = dop, .noutputs = tc->nout,
                         .batched = batched, .out_batched = out_batched, .slices = slices,
                         .nslices = nslices, .precision = CV_PRECISION_FP32};
    cv_err_t err;
    cv_status st = tc_launch(tc, &run, &err);
    if (st != CV_STATUS_OK)
        fail_msg("%s: CUDA entry: %s: %s", tc->label, cv_status_str(st), err.msg);
    dev_sync();
    for (int o = 0; o < tc->nout; o++) dev_download(&whole[o], dout[o].data);

    /* Each slice alone on the CPU, with its own weights, then slice 1 with
     * slice 0's. */
    for (int s = 0; s <= nslices; s++) {
        int slice = s < nslices ? s : 1, weights_of = s < nslices ? s : 0;
        const cv_tensor_t *sin[CV_TEST_NODE_MAX_IN];
        cv_tensor_t views[CV_TEST_NODE_MAX_IN], ref[CV_TEST_NODE_MAX_OUT];
        for (int i = 0; i < tc->nin; i++) {
            sin[i] = ins[i];
            if (!ins[i]) continue;
            if (batched[i]) {
                views[i] = cv_row_view(ins[i], row0[slice], rows[slice], total);
                sin[i] = &views[i];
            } else if (weights_of > 0 && cv_test_node_is_weight(tc, i)) {
                sin[i] = alt[weights_of][i];
            }
        }
        cv_test_node_infer(tc, sin, ref);
        cv_test_node_cpu(tc, sin, ref);
        for (int o = 0; o < tc->nout; o++) {
            cv_tensor_t got = cv_row_view(&whole[o], row0[slice], rows[slice], total);
            char what[160];
            snprintf(what, sizeof what, "%s (%s), wave slice %d, output %d", tc->label,
                     cv_op_name(tc->op), slice, o);
            if (s < nslices) {
                cv_test_compare(what, &got, &ref[o], tc->rel, tc->abs_tol);
            } else if (o == 0 && !(cv_test_max_abs_diff(&got, &ref[o]) > 1e-3)) {
                fail_msg("%s: the slice ran with tenant 0's weights", what);
            }
            cv_tensor_free(&ref[o]);
        }
    }

    for (int o = 0; o < tc->nout; o++) {
        G->iface->free(G, dout[o].data);
        cv_tensor_free(&whole[o]);
    }
    for (int s = 0; s < nslices; s++) {
        for (int i = 0; i < tc->nin; i++) {
            if (owned[s][i]) G->iface->free(G, owned[s][i]);
            if (s > 0 && alt[s][i]) cv_tensor_destroy(alt[s][i]);
        }
        cv_free(consts[s]);
    }
    cv_test_node_free(tc);
}

/* ---- elementwise ------------------------------------------------------------------- */

static void test_unary(void **state)
{
    static const struct {
        cv_op_t op;
        float scale;
        bool positive, exact;
        const char *label;
    } cases[] = {
        {CV_OP_RELU, 2, false, true, "relu"},
        {CV_OP_LEAKY_RELU, 2, false, false, "leaky relu alpha 0.2"},
        {CV_OP_ELU, 3, false, false, "elu alpha 0.7"},
        {CV_OP_SELU, 3, false, false, "selu"},
        {CV_OP_SIGMOID, 8, false, false, "sigmoid"},
        {CV_OP_HARD_SIGMOID, 4, false, false, "hard sigmoid alpha 0.3 beta 0.4"},
        {CV_OP_HARD_SWISH, 5, false, false, "hard swish"},
        {CV_OP_TANH, 3, false, false, "tanh"},
        {CV_OP_ERF, 2, false, false, "erf"},
        {CV_OP_GELU, 3, false, false, "gelu"},
        {CV_OP_SOFTPLUS, 6, false, false, "softplus"},
        {CV_OP_SQRT, 1, true, false, "sqrt"},
        {CV_OP_EXP, 4, false, false, "exp"},
        {CV_OP_LOG, 1, true, false, "log"},
        {CV_OP_NEG, 1, false, true, "neg"},
        {CV_OP_ABS, 1, false, true, "abs"},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, cases[k].op, 17, cases[k].label);
        cv_shape_t s = CV_TEST_SHAPE(2, 3, 5, 7);
        cv_test_node_input(&tc, cases[k].positive ? cv_test_positive(s, 10 + k) : cv_test_random(s, 10 + k, cases[k].scale, 0.0f));
        cv_test_node_add(&tc, 1);
        if (cases[k].op == CV_OP_LEAKY_RELU) cv_test_node_float(&tc, "alpha", 0.2f);
        if (cases[k].op == CV_OP_ELU) cv_test_node_float(&tc, "alpha", 0.7f);
        if (cases[k].op == CV_OP_HARD_SIGMOID) {
            cv_test_node_float(&tc, "alpha", 0.3f);
            cv_test_node_float(&tc, "beta", 0.4f);
        }
        if (cases[k].exact) cv_test_node_exact(&tc);
        else cv_test_node_loose(&tc);
        tc_check(&tc);
    }
    /* Gelu's tanh approximation; a tensor of a million elements (many
     * blocks, grid-stride loop). */
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_GELU, 20, "gelu tanh");
    cv_test_node_input(&tc, cv_test_random(CV_TEST_SHAPE(3, 4, 5), 30, 3.0f, 0.0f));
    cv_test_node_add(&tc, 1);
    cv_test_node_string(&tc, "approximate", "tanh");
    cv_test_node_loose(&tc);
    tc_check(&tc);
    cv_test_node_new(&tc, CV_OP_TANH, 17, "tanh, 2^20 elements");
    cv_test_node_input(&tc, cv_test_random(CV_TEST_SHAPE(1024, 1024), 31, 3.0f, 0.0f));
    cv_test_node_add(&tc, 1);
    cv_test_node_loose(&tc);
    tc_check(&tc);
}

/* Clip: both bounds (constants, so weights), one, none, bounds that cross. */
static void test_clip(void **state)
{
    static const struct {
        float lo, hi;
        bool has_lo, has_hi;
        const char *label;
    } cases[] = {
        {-0.3f, 0.6f, true, true, "clip min max"},
        {-0.3f, 0.0f, true, false, "clip min only"},
        {0.0f, 0.2f, false, true, "clip max only"},
        {0.0f, 0.0f, false, false, "clip no bounds"},
        {0.5f, -0.5f, true, true, "clip min above max"},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_CLIP, 13, cases[k].label);
        cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(4, 6, 5), 40 + k));
        if (cases[k].has_lo) cv_test_node_const(&tc, cv_test_scalar_f32(cases[k].lo), true);
        else cv_test_node_absent(&tc);
        if (cases[k].has_hi) cv_test_node_const(&tc, cv_test_scalar_f32(cases[k].hi), true);
        cv_test_node_add(&tc, 1);
        cv_test_node_exact(&tc);
        tc_check(&tc);
    }
}

/* Add, Sub, Mul, Div, Pow, Min, Max over broadcasting shapes: same shape,
 * per channel (either side), scalar, trailing vector, both sides
 * broadcast (the general kernel), rank 8, empty. */
static void test_binary_broadcast(void **state)
{
    static const struct {
        cv_shape_t a, b;
    } shapes[] = {
        {CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(2, 3, 4, 5)},
        {CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(3, 1, 1)},
        {CV_TEST_SHAPE(3, 1, 1), CV_TEST_SHAPE(2, 3, 4, 5)},
        {CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SCALAR},
        {CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(5)},
        {CV_TEST_SHAPE(2, 1, 4, 1), CV_TEST_SHAPE(1, 3, 1, 5)},
        {CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(2, 1, 4, 1)},
        {CV_TEST_SHAPE(2, 1, 2, 1, 2, 1, 2, 3), CV_TEST_SHAPE(1, 2, 1, 2, 1, 2, 1, 3)},
        {CV_TEST_SHAPE(1, 1), CV_TEST_SHAPE(1)},
        {CV_TEST_SHAPE(4, 0, 3), CV_TEST_SHAPE(3)},
    };
    static const cv_op_t ops[] = {CV_OP_ADD, CV_OP_SUB, CV_OP_MUL, CV_OP_DIV,
                                  CV_OP_POW, CV_OP_MIN, CV_OP_MAX};
    for (size_t k = 0; k < CV_ARRAY_LEN(ops); k++) {
        for (size_t j = 0; j < CV_ARRAY_LEN(shapes); j++) {
            cv_op_t op = ops[k];
            char label[64];
            snprintf(label, sizeof label, "%s shapes #%zu", cv_op_name(op), j);
            cv_test_node_t tc;
            cv_test_node_new(&tc, op, 17, label);
            uint64_t seed = 100 * k + j;
            cv_test_node_input(&tc, op == CV_OP_POW ? cv_test_positive(shapes[j].a, seed) : cv_test_uniform(shapes[j].a, seed));
            cv_tensor_t *b = op == CV_OP_DIV ? cv_test_positive(shapes[j].b, seed + 50)
                             : op == CV_OP_POW ? cv_test_random(shapes[j].b, seed + 50, 2.0f, 0.0f)
                                               : cv_test_uniform(shapes[j].b, seed + 50);
            /* Odd cases take B as a constant (a weight, as a bias is). */
            if (j % 2) cv_test_node_const(&tc, b, true);
            else cv_test_node_input(&tc, b);
            cv_test_node_add(&tc, 1);
            if (op == CV_OP_POW) cv_test_node_loose(&tc);
            else if (op != CV_OP_DIV) cv_test_node_exact(&tc);
            tc_check(&tc);
        }
    }
    /* Min and Max propagate NaN from either side; Pow(x, 2) is x * x. */
    for (int k = 0; k < 2; k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, k ? CV_OP_MAX : CV_OP_MIN, 17, k ? "max with NaNs" : "min with NaNs");
        cv_tensor_t *a = cv_test_uniform(CV_TEST_SHAPE(3, 8), 60), *b = cv_test_uniform(CV_TEST_SHAPE(3, 8), 61);
        ((float *)a->data)[3] = NAN;
        ((float *)b->data)[5] = NAN;
        cv_test_node_input(&tc, a);
        cv_test_node_input(&tc, b);
        cv_test_node_add(&tc, 1);
        cv_test_node_exact(&tc);
        tc_check(&tc);
    }
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_POW, 17, "pow square");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(5, 7), 62));
    cv_test_node_const(&tc, cv_test_scalar_f32(2.0f), true);
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);
    /* Same shape over a million elements. */
    cv_test_node_new(&tc, CV_OP_ADD, 17, "add, 2^20 elements");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(1024, 1024), 63));
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(1024, 1024), 64));
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);
}

static void test_prelu(void **state)
{
    static const cv_shape_t slopes[] = {CV_TEST_SHAPE(3, 1, 1), CV_TEST_SHAPE(1), CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(5)};
    for (size_t k = 0; k < CV_ARRAY_LEN(slopes); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_PRELU, 16, "prelu");
        cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4, 5), 70 + k));
        cv_test_node_const(&tc, cv_test_random(slopes[k], 80 + k, 0.5f, 0.25f), true);
        cv_test_node_add(&tc, 1);
        cv_test_node_exact(&tc);
        tc_check(&tc);
    }
}

/* Sum, Mean, Min, Max of one to three inputs that broadcast together. */
static void test_variadic(void **state)
{
    static const cv_op_t ops[] = {CV_OP_SUM, CV_OP_MEAN, CV_OP_MIN, CV_OP_MAX};
    for (size_t k = 0; k < CV_ARRAY_LEN(ops); k++) {
        for (int n = 1; n <= 3; n++) {
            char label[64];
            snprintf(label, sizeof label, "%s of %d", cv_op_name(ops[k]), n);
            cv_test_node_t tc;
            cv_test_node_new(&tc, ops[k], 13, label);
            static const cv_shape_t shapes[3] = {CV_TEST_SHAPE(4), CV_TEST_SHAPE(3, 1), CV_TEST_SHAPE(2, 3, 4)};
            for (int i = 0; i < n; i++) {
                cv_tensor_t *t = cv_test_uniform(n == 1 ? CV_TEST_SHAPE(2, 3, 4) : shapes[i], 90 + 10 * k + i);
                if (i == 1) cv_test_node_const(&tc, t, true);
                else cv_test_node_input(&tc, t);
            }
            cv_test_node_add(&tc, 1);
            cv_test_node_exact(&tc);
            tc_check(&tc);
        }
    }
}

static void test_equal_where(void **state)
{
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_EQUAL, 13, "equal fp32 broadcast");
    cv_test_node_input(&tc, cv_test_levels(CV_TEST_SHAPE(2, 3, 4), 110));
    cv_test_node_input(&tc, cv_test_levels(CV_TEST_SHAPE(3, 1), 111));
    cv_test_node_add(&tc, 1);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_EQUAL, 13, "equal int64");
    cv_test_node_input(&tc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(5, 6), 112, 2));
    cv_test_node_input(&tc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(5, 6), 113, 2));
    cv_test_node_add(&tc, 1);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_EQUAL, 13, "equal int32");
    cv_test_node_input(&tc, cv_test_ints(CV_DTYPE_INT32, CV_TEST_SHAPE(5, 6), 114, 2));
    cv_test_node_input(&tc, cv_test_ints(CV_DTYPE_INT32, CV_TEST_SHAPE(6), 115, 2));
    cv_test_node_add(&tc, 1);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_EQUAL, 13, "equal bool");
    cv_test_node_input(&tc, cv_test_bools(CV_TEST_SHAPE(4, 5), 116));
    cv_test_node_input(&tc, cv_test_bools(CV_TEST_SHAPE(4, 5), 117));
    cv_test_node_add(&tc, 1);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_WHERE, 16, "where fp32, scalar Y");
    cv_test_node_input(&tc, cv_test_bools(CV_TEST_SHAPE(2, 1, 4), 118));
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 119));
    cv_test_node_const(&tc, cv_test_scalar_f32(-7.5f), true);
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_WHERE, 16, "where fp32, general broadcast");
    cv_test_node_input(&tc, cv_test_bools(CV_TEST_SHAPE(2, 1, 4, 1), 120));
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(1, 3, 1, 5), 121));
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4, 5), 122));
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_WHERE, 16, "where int64");
    cv_test_node_input(&tc, cv_test_bools(CV_TEST_SHAPE(3, 4), 123));
    cv_test_node_input(&tc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(3, 4), 124, 1000));
    cv_test_node_input(&tc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(4), 125, 1000));
    cv_test_node_add(&tc, 1);
    tc_check(&tc);
}

/* Cast between FP32, INT64, INT32, BOOL and FP16, through the values where
 * conversions differ: NaN, infinities, halves, past INT32, past FP16,
 * ties of FP16 rounding. */
static void test_cast(void **state)
{
    static const float fv[] = {0.0f, -0.0f, 0.5f, -0.5f, 1.5f, -2.7f, 3e9f, -3e9f, 1e10f,
                               65519.0f, 65520.0f, 2049.0f, 1e-8f, NAN, INFINITY, -INFINITY};
    static const int64_t iv[] = {0, 1, -1, 2049, 2051, 65519, 65520, 70000, -3,
                                 1099511627777LL, INT64_MAX, INT64_MIN, 16777217, -16777217};
    static const cv_dtype_t from_f32[] = {CV_DTYPE_INT64, CV_DTYPE_INT32, CV_DTYPE_BOOL,
                                          CV_DTYPE_FP16, CV_DTYPE_FP32};
    static const cv_dtype_t from_i64[] = {CV_DTYPE_FP32, CV_DTYPE_INT32, CV_DTYPE_BOOL,
                                          CV_DTYPE_FP16};
    cv_shape_t fs = CV_TEST_SHAPE((int64_t)CV_ARRAY_LEN(fv)), is = CV_TEST_SHAPE((int64_t)CV_ARRAY_LEN(iv));
    for (size_t k = 0; k < CV_ARRAY_LEN(from_f32); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_CAST, 19, "cast from fp32");
        cv_test_node_input(&tc, cv_test_tensor(CV_DTYPE_FP32, fs, fv));
        cv_test_node_add(&tc, 1);
        cv_test_node_int(&tc, "to", from_f32[k]);
        cv_test_node_exact(&tc);
        tc_check(&tc);
    }
    for (size_t k = 0; k < CV_ARRAY_LEN(from_i64); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_CAST, 19, "cast from int64");
        cv_test_node_input(&tc, cv_test_tensor(CV_DTYPE_INT64, is, iv));
        cv_test_node_add(&tc, 1);
        cv_test_node_int(&tc, "to", from_i64[k]);
        cv_test_node_exact(&tc);
        tc_check(&tc);
    }
    /* FP16, BOOL and INT32 sources. */
    uint16_t hv[CV_ARRAY_LEN(fv)];
    for (size_t i = 0; i < CV_ARRAY_LEN(fv); i++) hv[i] = cv_fp32_to_fp16(fv[i]);
    static const struct {
        cv_dtype_t from, to;
    } pairs[] = {
        {CV_DTYPE_FP16, CV_DTYPE_FP32}, {CV_DTYPE_FP16, CV_DTYPE_INT64},
        {CV_DTYPE_FP16, CV_DTYPE_BOOL}, {CV_DTYPE_BOOL, CV_DTYPE_FP32},
        {CV_DTYPE_BOOL, CV_DTYPE_INT64}, {CV_DTYPE_INT32, CV_DTYPE_INT64},
        {CV_DTYPE_INT32, CV_DTYPE_FP32}, {CV_DTYPE_INT32, CV_DTYPE_FP16},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(pairs); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_CAST, 19, "cast fp16/bool/int32");
        cv_tensor_t *x;
        if (pairs[k].from == CV_DTYPE_FP16) x = cv_test_tensor(CV_DTYPE_FP16, fs, hv);
        else if (pairs[k].from == CV_DTYPE_BOOL) x = cv_test_bools(CV_TEST_SHAPE(3, 7), 130);
        else x = cv_test_ints(CV_DTYPE_INT32, CV_TEST_SHAPE(3, 7), 131, 100000);
        cv_test_node_input(&tc, x);
        cv_test_node_add(&tc, 1);
        cv_test_node_int(&tc, "to", pairs[k].to);
        cv_test_node_exact(&tc);
        tc_check(&tc);
    }
}

/* ---- pools --------------------------------------------------------------------------- */

typedef struct pool_case {
    cv_op_t op;
    cv_shape_t x;
    int nd;
    int64_t k[2], s[2], d[2], pads[4];
    bool has_pads, has_dil;
    int ceil, include_pad;
    const char *auto_pad, *label;
} pool_case_t;

static void test_pools(void **state)
{
    static const pool_case_t cases[] = {
        {CV_OP_MAX_POOL, CV_TEST_SHAPE(2, 3, 9, 9), 2,
         {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, 0, 0, NULL, "max 3x3 s2 p1"},
        {CV_OP_MAX_POOL, CV_TEST_SHAPE(1, 2, 8, 8), 2,
         {3, 3}, {2, 2}, {1, 1}, {0}, false, false, 1, 0, NULL, "max ceil_mode"},
        {CV_OP_MAX_POOL, CV_TEST_SHAPE(1, 2, 10, 10), 2,
         {3, 3}, {1, 1}, {2, 2}, {0}, false, true, 0, 0, NULL, "max dilations 2"},
        {CV_OP_MAX_POOL, CV_TEST_SHAPE(2, 3, 11), 1,
         {3}, {2}, {1}, {1, 1}, true, false, 0, 0, NULL, "max 1-D"},
        {CV_OP_MAX_POOL, CV_TEST_SHAPE(1, 2, 7, 7), 2,
         {3, 3}, {2, 2}, {1, 1}, {0}, false, false, 0, 0, "SAME_UPPER", "max SAME_UPPER"},
        {CV_OP_MAX_POOL, CV_TEST_SHAPE(1, 2, 6, 7), 2,
         {2, 3}, {2, 1}, {1, 1}, {1, 0, 0, 1}, true, false, 1, 0, NULL, "max ceil_mode pads"},
        {CV_OP_AVERAGE_POOL, CV_TEST_SHAPE(2, 3, 9, 9), 2,
         {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, 0, 0, NULL, "avg exclude pad"},
        {CV_OP_AVERAGE_POOL, CV_TEST_SHAPE(2, 3, 9, 9), 2,
         {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, 0, 1, NULL, "avg include pad"},
        {CV_OP_AVERAGE_POOL, CV_TEST_SHAPE(1, 2, 8, 8), 2,
         {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, 1, 1, NULL, "avg ceil include pad"},
        {CV_OP_AVERAGE_POOL, CV_TEST_SHAPE(1, 2, 8, 8), 2,
         {3, 3}, {2, 2}, {1, 1}, {0}, false, false, 1, 0, NULL, "avg ceil_mode"},
        {CV_OP_AVERAGE_POOL, CV_TEST_SHAPE(2, 3, 12), 1,
         {4}, {3}, {1}, {2, 1}, true, false, 1, 1, NULL, "avg 1-D"},
        {CV_OP_AVERAGE_POOL, CV_TEST_SHAPE(1, 2, 7, 7), 2,
         {2, 2}, {2, 2}, {1, 1}, {0}, false, false, 0, 0, "SAME_LOWER", "avg SAME_LOWER"},
        /* planes wider than a block: pool2d_kernel's grid along x */
        {CV_OP_MAX_POOL, CV_TEST_SHAPE(1, 3, 40, 40), 2,
         {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, 0, 0, NULL, "max 40x40 3x3 s2 p1"},
        {CV_OP_AVERAGE_POOL, CV_TEST_SHAPE(1, 3, 40, 40), 2,
         {2, 3}, {1, 2}, {1, 1}, {0, 1, 1, 0}, true, false, 1, 1, NULL, "avg 40x40 ceil include pad"},
    };
    /* Each case by the generic kernel and by pool2d_kernel (where it fits:
     * not the dilated one), against the CPU. */
    cv_cuda_t *cuda = (cv_cuda_t *)G;
    bool pool2d_default = cuda->pool2d;
    for (size_t k = 0; k < 2 * CV_ARRAY_LEN(cases); k++) {
        const pool_case_t *c = &cases[k % CV_ARRAY_LEN(cases)];
        cuda->pool2d = k >= CV_ARRAY_LEN(cases);
        char label[96];
        snprintf(label, sizeof label, "%s (%s)", c->label, cuda->pool2d ? "pool2d" : "generic");
        cv_test_node_t tc;
        cv_test_node_new(&tc, c->op, 19, label);
        cv_test_node_input(&tc, cv_test_uniform(c->x, 140 + k % CV_ARRAY_LEN(cases)));
        cv_test_node_add(&tc, 1);
        cv_test_node_ints(&tc, "kernel_shape", c->k, c->nd);
        cv_test_node_ints(&tc, "strides", c->s, c->nd);
        if (c->has_dil) cv_test_node_ints(&tc, "dilations", c->d, c->nd);
        if (c->has_pads) cv_test_node_ints(&tc, "pads", c->pads, 2 * c->nd);
        if (c->auto_pad) cv_test_node_string(&tc, "auto_pad", c->auto_pad);
        if (c->ceil) cv_test_node_int(&tc, "ceil_mode", 1);
        if (c->include_pad) cv_test_node_int(&tc, "count_include_pad", 1);
        /* Averages: the CPU sums rows first and scales by reciprocals. */
        if (c->op == CV_OP_MAX_POOL) cv_test_node_exact(&tc);
        tc_check(&tc);
    }
    cuda->pool2d = pool2d_default;
    static const cv_shape_t globals[] = {CV_TEST_SHAPE(2, 3, 7, 7), CV_TEST_SHAPE(1, 2, 40, 40), CV_TEST_SHAPE(2, 3, 5), CV_TEST_SHAPE(2, 4, 1, 1)};
    for (size_t k = 0; k < CV_ARRAY_LEN(globals); k++) {
        for (int is_max = 0; is_max < 2; is_max++) {
            cv_test_node_t tc;
            cv_test_node_new(&tc, is_max ? CV_OP_GLOBAL_MAX_POOL : CV_OP_GLOBAL_AVERAGE_POOL, 13,
                   is_max ? "global max" : "global average");
            cv_test_node_input(&tc, cv_test_uniform(globals[k], 160 + k));
            cv_test_node_add(&tc, 1);
            if (is_max) cv_test_node_exact(&tc);
            tc_check(&tc);
        }
    }
}

/* ---- layout ---------------------------------------------------------------------------- */

static void test_transpose(void **state)
{
    static const struct {
        cv_shape_t x;
        int64_t perm[4];
        int n;
    } cases[] = {
        {CV_TEST_SHAPE(2, 3, 4, 5), {0, 2, 3, 1}, 4},
        {CV_TEST_SHAPE(2, 3, 4, 5), {3, 1, 0, 2}, 4},
        {CV_TEST_SHAPE(2, 3, 4, 5), {0}, 0},
        {CV_TEST_SHAPE(33, 65), {1, 0}, 2},
        {CV_TEST_SHAPE(2, 3, 4), {0, 1, 2}, 3},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_TRANSPOSE, 13, "transpose");
        cv_test_node_input(&tc, cv_test_uniform(cases[k].x, 170 + k));
        cv_test_node_add(&tc, 1);
        if (cases[k].n) cv_test_node_ints(&tc, "perm", cases[k].perm, cases[k].n);
        cv_test_node_exact(&tc);
        tc_check(&tc);
    }
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_TRANSPOSE, 13, "transpose int64");
    cv_test_node_input(&tc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(3, 4), 176, 1000));
    cv_test_node_add(&tc, 1);
    cv_test_node_ints(&tc, "perm", (int64_t[]){1, 0}, 2);
    tc_check(&tc);
}

static void test_concat_split(void **state)
{
    static const struct {
        cv_shape_t a, b, c;
        int64_t axis;
    } cases[] = {
        {CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(2, 1, 4), CV_TEST_SHAPE(2, 2, 4), 1},
        {CV_TEST_SHAPE(1, 3, 4), CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(1, 3, 4), 0},
        {CV_TEST_SHAPE(2, 3, 1), CV_TEST_SHAPE(2, 3, 5), CV_TEST_SHAPE(2, 3, 2), -1},
        {CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(2, 3, 0), 2},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_CONCAT, 13, "concat");
        cv_test_node_input(&tc, cv_test_uniform(cases[k].a, 180 + k));
        cv_test_node_const(&tc, cv_test_uniform(cases[k].b, 185 + k), true);
        cv_test_node_input(&tc, cv_test_uniform(cases[k].c, 190 + k));
        cv_test_node_add(&tc, 1);
        cv_test_node_int(&tc, "axis", cases[k].axis);
        cv_test_node_exact(&tc);
        tc_check(&tc);
    }
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_CONCAT, 13, "concat int64 (shapes)");
    cv_test_node_input(&tc, cv_test_i64s(CV_TEST_SHAPE(1), (int64_t[]){-1}));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(2), (int64_t[]){3, 224}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_int(&tc, "axis", 0);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_SPLIT, 13, "split equal");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 6, 4), 195));
    cv_test_node_add(&tc, 3);
    cv_test_node_int(&tc, "axis", 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_SPLIT, 13, "split sizes");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 6, 4), 196));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(3), (int64_t[]){1, 3, 2}), false);
    cv_test_node_add(&tc, 3);
    cv_test_node_int(&tc, "axis", 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_SPLIT, 13, "split last axis");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(3, 8), 197));
    cv_test_node_add(&tc, 2);
    cv_test_node_int(&tc, "axis", -1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_SPLIT, 18, "split num_outputs");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 7), 198));
    cv_test_node_add(&tc, 3);
    cv_test_node_int(&tc, "axis", 1);
    cv_test_node_int(&tc, "num_outputs", 3);
    cv_test_node_exact(&tc);
    tc_check(&tc);
}

static void test_slice_gather(void **state)
{
    static const struct {
        int64_t starts[3], ends[3], axes[3], steps[3];
        int n;
        bool has_axes, has_steps;
    } cases[] = {
        {{1, -4}, {4, 100}, {0, 2}, {1, 2}, 2, true, true},
        {{-1}, {-100}, {1}, {-2}, 1, true, true},
        {{0, 1}, {2, 5}, {0}, {0}, 2, false, false},
        {{4, 0, 6}, {0, 6, -100}, {0, 1, 2}, {-1, 3, -3}, 3, true, true},
        {{2}, {2}, {0}, {1}, 1, true, false},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_SLICE, 13, "slice");
        int n = cases[k].n;
        cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(5, 6, 7), 200 + k));
        cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(n), cases[k].starts), false);
        cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(n), cases[k].ends), false);
        if (cases[k].has_axes) cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(n), cases[k].axes), false);
        else if (cases[k].has_steps) cv_test_node_absent(&tc);
        if (cases[k].has_steps) cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(n), cases[k].steps), false);
        cv_test_node_add(&tc, 1);
        cv_test_node_exact(&tc);
        tc_check(&tc);
    }

    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_GATHER, 13, "gather axis 0, int64 indices");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(5, 4, 3), 210));
    cv_test_node_input(&tc, cv_test_i64s(CV_TEST_SHAPE(2, 2), (int64_t[]){0, -1, 3, 2}));
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_GATHER, 13, "gather axis 1, int32 constant indices");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(5, 4, 3), 211));
    cv_test_node_const(&tc, cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(3), (int32_t[]){3, 0, -2}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_int(&tc, "axis", 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_GATHER, 13, "gather scalar index, last axis");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(5, 4, 3), 212));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SCALAR, (int64_t[]){-1}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_int(&tc, "axis", -1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_GATHER, 13, "gather int64 data (shapes)");
    cv_test_node_input(&tc, cv_test_i64s(CV_TEST_SHAPE(4), (int64_t[]){1, 3, 224, 224}));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SCALAR, (int64_t[]){0}), false);
    cv_test_node_add(&tc, 1);
    tc_check(&tc);
}

static void test_expand_tile(void **state)
{
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_EXPAND, 13, "expand [3,1] to [2,3,4]");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(3, 1), 220));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(3), (int64_t[]){2, 3, 4}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_EXPAND, 13, "expand [4] by [2,1,1]");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(4), 221));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(3), (int64_t[]){2, 1, 1}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_TILE, 13, "tile [2,3] by [2,3]");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 3), 222));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(2), (int64_t[]){2, 3}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_TILE, 13, "tile [2,1,3] by [1,4,2]");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 1, 3), 223));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(3), (int64_t[]){1, 4, 2}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);
}

static void test_pad(void **state)
{
    static const struct {
        const char *mode;
        cv_shape_t x;
        int64_t pads[6];
        int np;
        bool value;
    } cases[] = {
        {"constant", CV_TEST_SHAPE(2, 3, 4), {0, 1, 2, 0, 2, 1}, 6, true},
        {"constant", CV_TEST_SHAPE(2, 3, 4), {0, -1, 1, 0, 1, -2}, 6, true},
        {"constant", CV_TEST_SHAPE(2, 3, 4), {1, 0, 0, 0, 0, 1}, 6, false},
        {"reflect", CV_TEST_SHAPE(3, 4), {1, 2, 2, 1}, 4, false},
        {"edge", CV_TEST_SHAPE(3, 4), {2, 3, 1, 2}, 4, false},
        {"wrap", CV_TEST_SHAPE(3, 4), {1, 2, 3, 1}, 4, false},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_PAD, 19, cases[k].mode);
        cv_test_node_input(&tc, cv_test_uniform(cases[k].x, 230 + k));
        cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(cases[k].np), cases[k].pads), false);
        if (cases[k].value) cv_test_node_const(&tc, cv_test_scalar_f32(2.5f), true);
        cv_test_node_add(&tc, 1);
        cv_test_node_string(&tc, "mode", cases[k].mode);
        cv_test_node_exact(&tc);
        tc_check(&tc);
    }
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_PAD, 19, "pad with axes");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 240));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(2), (int64_t[]){1, 2}), false);
    cv_test_node_absent(&tc);
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(1), (int64_t[]){-1}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);
}

static void test_views(void **state)
{
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_RESHAPE, 14, "reshape");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 250));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(2), (int64_t[]){4, -1}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_FLATTEN, 13, "flatten");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 251));
    cv_test_node_add(&tc, 1);
    cv_test_node_int(&tc, "axis", 2);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_SQUEEZE, 13, "squeeze");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 1, 4), 252));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(1), (int64_t[]){1}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_UNSQUEEZE, 13, "unsqueeze");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(2, 4), 253));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(2), (int64_t[]){0, 3}), false);
    cv_test_node_add(&tc, 1);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_IDENTITY, 13, "identity int64");
    cv_test_node_input(&tc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(3, 5), 254, 99));
    cv_test_node_add(&tc, 1);
    tc_check(&tc);

    cv_test_node_new(&tc, CV_OP_DROPOUT, 13, "dropout with mask");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(3, 5), 255));
    cv_test_node_add(&tc, 2);
    cv_test_node_exact(&tc);
    tc_check(&tc);

    /* The planner's aliasing: output storage is the input's; nothing moves. */
    cv_tensor_t *x = cv_test_uniform(CV_TEST_SHAPE(2, 6), 256);
    cv_graph_t *g = cv_graph_create("alias");
    assert_non_null(g);
    g->opset = 14;
    int vx = cv_graph_add_value(g, "x");
    int vy = cv_graph_add_value(g, "y");
    int node = cv_graph_add_node(g, "reshape", CV_OP_FLATTEN, &vx, 1, &vy, 1);
    assert_true(vx >= 0 && vy >= 0 && node >= 0);
    cv_tensor_t dx = *x, dy = *x;
    dx.data = dy.data = dev_upload(x);
    dy.shape = CV_TEST_SHAPE(12, 1);
    const cv_tensor_t *ins[1] = {&dx};
    cv_tensor_t *outs[1] = {&dy};
    bool flags[1] = {false};
    cv_wave_slice_t slice = {.row0 = 0, .rows = 2, .constants = NULL};
    cv_step_run_t run = {.graph = g, .node = &g->nodes[node], .inputs = ins, .ninputs = 1,
                         .outputs = outs, .noutputs = 1, .batched = flags, .out_batched = flags,
                         .slices = &slice, .nslices = 1};
    cv_err_t err;
    assert_int_equal(cv_cuda_flatten((cv_cuda_t *)G, &run, &err), CV_STATUS_OK);
    dev_sync();
    cv_tensor_t *back = cv_test_tensor(CV_DTYPE_FP32, CV_TEST_SHAPE(2, 6), NULL);
    dev_download(back, dy.data);
    assert_memory_equal(back->data, x->data, cv_tensor_nbytes(x));
    G->iface->free(G, dx.data);
    cv_tensor_destroy(back);
    cv_tensor_destroy(x);
    cv_graph_destroy(g);
}

/* ---- nn ---------------------------------------------------------------------------------- */

static void add_bn_params(cv_test_node_t *tc, int64_t channels, uint64_t seed)
{
    cv_test_node_const(tc, cv_test_random(CV_TEST_SHAPE(channels), seed, 0.5f, 1.0f), true);      /* scale */
    cv_test_node_const(tc, cv_test_uniform(CV_TEST_SHAPE(channels), seed + 1), true);              /* B */
    cv_test_node_const(tc, cv_test_random(CV_TEST_SHAPE(channels), seed + 2, 0.3f, 0.0f), true);  /* mean */
    cv_test_node_const(tc, cv_test_positive(CV_TEST_SHAPE(channels), seed + 3), true);              /* var */
}

static void test_batch_norm(void **state)
{
    /* Per element ([N, C] and small planes) and per plane (planes of 256). */
    static const cv_shape_t shapes[] = {CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(4, 6), CV_TEST_SHAPE(2, 3, 16, 16), CV_TEST_SHAPE(2, 5, 7)};
    for (size_t k = 0; k < CV_ARRAY_LEN(shapes); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_BATCH_NORMALIZATION, 15, "batch norm");
        cv_test_node_input(&tc, cv_test_uniform(shapes[k], 300 + k));
        add_bn_params(&tc, shapes[k].dims[1], 310 + 10 * k);
        cv_test_node_add(&tc, 1);
        cv_test_node_float(&tc, "epsilon", 1e-3f);
        tc_check(&tc);
    }
}

static void test_softmax(void **state)
{
    static const struct {
        cv_shape_t x;
        int opset;
        int64_t axis;
        bool has_axis;
        const char *label;
    } cases[] = {
        {CV_TEST_SHAPE(2, 3, 4), 11, 1, true, "opset 11 axis 1 (coerced to 2-D)"},
        {CV_TEST_SHAPE(2, 3, 4), 11, 0, false, "opset 11 default axis"},
        {CV_TEST_SHAPE(2, 3, 4), 11, 2, true, "opset 11 axis 2"},
        {CV_TEST_SHAPE(2, 3, 4), 13, 1, true, "opset 13 axis 1 (one axis)"},
        {CV_TEST_SHAPE(3, 5), 13, 0, false, "opset 13 default axis"},
        {CV_TEST_SHAPE(4, 3), 13, 0, true, "opset 13 axis 0"},
        {CV_TEST_SHAPE(2, 1500), 13, -1, true, "opset 13 long rows"},
        {CV_TEST_SHAPE(2, 3, 2000), 11, 1, true, "opset 11 long coerced rows"},
    };
    for (int log_out = 0; log_out < 2; log_out++) {
        for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
            cv_test_node_t tc;
            cv_test_node_new(&tc, log_out ? CV_OP_LOG_SOFTMAX : CV_OP_SOFTMAX, cases[k].opset,
                   cases[k].label);
            cv_test_node_input(&tc, cv_test_random(cases[k].x, 330 + k, 4.0f, 0.0f));
            cv_test_node_add(&tc, 1);
            if (cases[k].has_axis) cv_test_node_int(&tc, "axis", cases[k].axis);
            cv_test_node_loose(&tc);
            tc_check(&tc);
        }
    }
}

static void test_layer_norm(void **state)
{
    static const struct {
        cv_shape_t x, scale, bias;
        int64_t axis;
        bool has_bias;
        int nout;
        const char *label;
    } cases[] = {
        {CV_TEST_SHAPE(2, 3, 8), CV_TEST_SHAPE(8), CV_TEST_SHAPE(8), -1, true, 1, "last axis, scale and bias"},
        {CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(3, 4, 5), CV_TEST_SHAPE(0), 1, false, 3, "axis 1, mean and inv std outputs"},
        {CV_TEST_SHAPE(2, 1500), CV_TEST_SHAPE(1500), CV_TEST_SHAPE(1500), -1, true, 1, "long rows"},
        {CV_TEST_SHAPE(3, 4, 5), CV_TEST_SHAPE(1, 5), CV_TEST_SHAPE(5), 1, true, 1, "scale broadcast over the normalized shape"},
        {CV_TEST_SHAPE(3, 4, 5), CV_TEST_SHAPE(1), CV_TEST_SHAPE(1), 0, true, 3, "axis 0, scalar scale and bias"},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_LAYER_NORMALIZATION, 17, cases[k].label);
        cv_test_node_input(&tc, cv_test_random(cases[k].x, 350 + k, 2.0f, 0.5f));
        cv_test_node_const(&tc, cv_test_random(cases[k].scale, 360 + k, 0.5f, 1.0f), true);
        if (cases[k].has_bias) cv_test_node_const(&tc, cv_test_uniform(cases[k].bias, 370 + k), true);
        cv_test_node_add(&tc, cases[k].nout);
        cv_test_node_int(&tc, "axis", cases[k].axis);
        cv_test_node_loose(&tc);
        tc_check(&tc);
    }
}

static void test_lrn(void **state)
{
    static const int64_t sizes[] = {3, 4, 1};
    for (size_t k = 0; k < CV_ARRAY_LEN(sizes); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, CV_OP_LRN, 13, "lrn");
        cv_test_node_input(&tc, cv_test_random(CV_TEST_SHAPE(2, 5, 3, 3), 380 + k, 2.0f, 0.0f));
        cv_test_node_add(&tc, 1);
        cv_test_node_int(&tc, "size", sizes[k]);
        cv_test_node_float(&tc, "alpha", 0.01f);
        cv_test_node_float(&tc, "beta", 0.75f);
        cv_test_node_float(&tc, "bias", 1.5f);
        cv_test_node_loose(&tc);
        tc_check(&tc);
    }
}

static void test_reduce(void **state)
{
    static const struct {
        cv_shape_t x;
        int64_t axes[3];
        int n;
        int keepdims, noop;
        const char *label;
    } cases[] = {
        {CV_TEST_SHAPE(2, 3, 4, 5), {1}, 1, 1, 0, "axis 1"},
        {CV_TEST_SHAPE(2, 3, 4, 5), {-1}, 1, 0, 0, "last axis, no keepdims"},
        {CV_TEST_SHAPE(2, 3, 4, 5), {0, 2}, 2, 1, 0, "axes 0 and 2"},
        {CV_TEST_SHAPE(2, 3, 4, 5), {0}, 0, 1, 0, "all axes"},
        {CV_TEST_SHAPE(2, 3, 4, 5), {1, 3}, 2, 0, 0, "axes 1 and 3"},
        {CV_TEST_SHAPE(2, 3, 4, 5), {2, 3}, 2, 1, 0, "spatial (a global average)"},
        {CV_TEST_SHAPE(2, 3, 4, 5), {0}, 0, 1, 1, "no axes, noop_with_empty_axes"},
        {CV_TEST_SHAPE(3, 100), {1}, 1, 1, 0, "long inner run (a warp per output)"},
        {CV_TEST_SHAPE(3, 100), {0}, 1, 1, 0, "outer axis"},
        {CV_TEST_SHAPE(2, 0, 3), {1}, 1, 1, 0, "empty reduced axis"},
    };
    for (int mean = 0; mean < 2; mean++) {
        for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
            cv_test_node_t tc;
            cv_test_node_new(&tc, mean ? CV_OP_REDUCE_MEAN : CV_OP_REDUCE_SUM, 18, cases[k].label);
            cv_test_node_input(&tc, cv_test_uniform(cases[k].x, 390 + k));
            if (cases[k].n) cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(cases[k].n), cases[k].axes), false);
            cv_test_node_add(&tc, 1);
            cv_test_node_int(&tc, "keepdims", cases[k].keepdims);
            if (cases[k].noop) cv_test_node_int(&tc, "noop_with_empty_axes", 1);
            cv_test_node_loose(&tc);
            tc_check(&tc);
        }
    }
}

/* An op on a dtype its kernel lacks answers UNSUPPORTED, naming both. */
static void test_unsupported_dtype(void **state)
{
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_RELU, 14, "relu int64");
    cv_test_node_input(&tc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(4), 400, 10));
    cv_test_node_add(&tc, 1);
    cv_tensor_t x = *tc.runtime[0], y = x;
    x.data = dev_upload(tc.runtime[0]);
    y.data = dev_garbage(cv_tensor_nbytes(&x));
    const cv_tensor_t *ins[1] = {&x};
    cv_tensor_t *outs[1] = {&y};
    bool flags[1] = {false};
    cv_wave_slice_t slice = {.row0 = 0, .rows = 4, .constants = NULL};
    cv_step_run_t run = {.graph = tc.g, .node = &tc.g->nodes[tc.node], .inputs = ins,
                         .ninputs = 1, .outputs = outs, .noutputs = 1, .batched = flags,
                         .out_batched = flags, .slices = &slice, .nslices = 1};
    cv_err_t err;
    assert_int_equal(tc_launch(&tc, &run, &err), CV_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "Relu"));
    assert_non_null(strstr(err.msg, "INT64"));
    G->iface->free(G, x.data);
    G->iface->free(G, y.data);
    cv_test_node_free(&tc);
}

/* ---- waves: per-tenant parameters ------------------------------------------------------ */

static const int64_t wave_rows[3] = {1, 2, 3}; /* 6 rows in all */

/* BatchNormalization with three tenants' statistics: per element and per
 * plane. */
static void test_wave_batch_norm(void **state)
{
    static const cv_shape_t shapes[] = {CV_TEST_SHAPE(6, 3, 4, 5), CV_TEST_SHAPE(6, 3, 16, 16), CV_TEST_SHAPE(6, 4)};
    for (size_t k = 0; k < CV_ARRAY_LEN(shapes); k++) {
        cv_test_node_t tc;
        int64_t c = shapes[k].dims[1];
        cv_test_node_new(&tc, CV_OP_BATCH_NORMALIZATION, 15, "wave batch norm");
        cv_test_node_input(&tc, cv_test_uniform(shapes[k], 500 + k));
        add_bn_params(&tc, c, 510 + 10 * k);
        cv_test_node_add(&tc, 1);
        cv_tensor_t *alt[MAX_SLICES][CV_TEST_NODE_MAX_IN] = {{NULL}};
        for (int s = 1; s < 3; s++) {
            alt[s][1] = cv_test_random(CV_TEST_SHAPE(c), 600 + 10 * s + k, 0.5f, 1.0f);
            alt[s][2] = cv_test_uniform(CV_TEST_SHAPE(c), 700 + 10 * s + k);
            alt[s][3] = cv_test_random(CV_TEST_SHAPE(c), 800 + 10 * s + k, 0.3f, 0.0f);
            alt[s][4] = cv_test_positive(CV_TEST_SHAPE(c), 900 + 10 * s + k);
        }
        tc_check_wave(&tc, 3, wave_rows, alt);
    }
}

/* Binary ops with a tenant's operand: a bias per channel, a scalar scale,
 * a general broadcast, a PRelu slope, Sum with two weights. */
static void test_wave_elementwise(void **state)
{
    static const struct {
        cv_op_t op;
        cv_shape_t x, w;
    } cases[] = {
        {CV_OP_ADD, CV_TEST_SHAPE(6, 3, 4, 5), CV_TEST_SHAPE(3, 1, 1)},
        {CV_OP_MUL, CV_TEST_SHAPE(6, 4), CV_TEST_SCALAR},
        {CV_OP_SUB, CV_TEST_SHAPE(6, 3, 4, 5), CV_TEST_SHAPE(3, 1, 5)},
        {CV_OP_DIV, CV_TEST_SHAPE(6, 7), CV_TEST_SHAPE(7)},
        {CV_OP_PRELU, CV_TEST_SHAPE(6, 3, 4), CV_TEST_SHAPE(3, 1)},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t tc;
        cv_test_node_new(&tc, cases[k].op, 17, "wave elementwise");
        cv_test_node_input(&tc, cv_test_uniform(cases[k].x, 1000 + k));
        cv_test_node_const(&tc, cv_test_positive(cases[k].w, 1010 + k), true);
        cv_test_node_add(&tc, 1);
        cv_tensor_t *alt[MAX_SLICES][CV_TEST_NODE_MAX_IN] = {{NULL}};
        for (int s = 1; s < 3; s++) alt[s][1] = cv_test_positive(cases[k].w, 1020 + 10 * s + k);
        tc_check_wave(&tc, 3, wave_rows, alt);
    }
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_SUM, 13, "wave sum");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(6, 4), 1100));
    cv_test_node_const(&tc, cv_test_uniform(CV_TEST_SHAPE(4), 1101), true);
    cv_test_node_const(&tc, cv_test_uniform(CV_TEST_SHAPE(1), 1102), true);
    cv_test_node_add(&tc, 1);
    cv_tensor_t *alt[MAX_SLICES][CV_TEST_NODE_MAX_IN] = {{NULL}};
    for (int s = 1; s < 3; s++) {
        alt[s][1] = cv_test_uniform(CV_TEST_SHAPE(4), 1110 + s);
        alt[s][2] = cv_test_uniform(CV_TEST_SHAPE(1), 1120 + s);
    }
    tc_check_wave(&tc, 3, wave_rows, alt);

    cv_test_node_new(&tc, CV_OP_CLIP, 13, "wave clip");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(6, 10), 1130));
    cv_test_node_const(&tc, cv_test_scalar_f32(-0.5f), true);
    cv_test_node_const(&tc, cv_test_scalar_f32(0.5f), true);
    cv_test_node_add(&tc, 1);
    memset(alt, 0, sizeof alt);
    alt[1][1] = cv_test_scalar_f32(-0.1f);
    alt[1][2] = cv_test_scalar_f32(0.2f);
    alt[2][1] = cv_test_scalar_f32(-0.9f);
    alt[2][2] = cv_test_scalar_f32(0.0f);
    tc_check_wave(&tc, 3, wave_rows, alt);

    cv_test_node_new(&tc, CV_OP_WHERE, 16, "wave where");
    cv_test_node_input(&tc, cv_test_bools(CV_TEST_SHAPE(6, 4), 1140));
    cv_test_node_const(&tc, cv_test_uniform(CV_TEST_SHAPE(4), 1141), true);
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(6, 4), 1142));
    cv_test_node_add(&tc, 1);
    memset(alt, 0, sizeof alt);
    for (int s = 1; s < 3; s++) alt[s][1] = cv_test_random(CV_TEST_SHAPE(4), 1150 + s, 1.0f, 5.0f);
    tc_check_wave(&tc, 3, wave_rows, alt);
}

/* LayerNormalization, Gather from a tenant's embedding table, Pad with a
 * tenant's fill value. */
static void test_wave_other(void **state)
{
    cv_tensor_t *alt[MAX_SLICES][CV_TEST_NODE_MAX_IN] = {{NULL}};
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_LAYER_NORMALIZATION, 17, "wave layer norm");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(6, 4, 8), 1200));
    cv_test_node_const(&tc, cv_test_random(CV_TEST_SHAPE(8), 1201, 0.5f, 1.0f), true);
    cv_test_node_const(&tc, cv_test_uniform(CV_TEST_SHAPE(8), 1202), true);
    cv_test_node_add(&tc, 1);
    cv_test_node_int(&tc, "axis", -1);
    cv_test_node_loose(&tc);
    for (int s = 1; s < 3; s++) {
        alt[s][1] = cv_test_random(CV_TEST_SHAPE(8), 1210 + s, 0.5f, 1.0f);
        alt[s][2] = cv_test_uniform(CV_TEST_SHAPE(8), 1220 + s);
    }
    tc_check_wave(&tc, 3, wave_rows, alt);

    cv_test_node_new(&tc, CV_OP_GATHER, 13, "wave gather (embedding)");
    cv_test_node_const(&tc, cv_test_uniform(CV_TEST_SHAPE(10, 4), 1230), true);
    cv_test_node_input(&tc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(6, 3), 1231, 4));
    cv_test_node_add(&tc, 1);
    memset(alt, 0, sizeof alt);
    for (int s = 1; s < 3; s++) alt[s][0] = cv_test_uniform(CV_TEST_SHAPE(10, 4), 1240 + s);
    cv_test_node_exact(&tc);
    tc_check_wave(&tc, 3, wave_rows, alt);

    cv_test_node_new(&tc, CV_OP_PAD, 19, "wave pad");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(6, 3), 1250));
    cv_test_node_const(&tc, cv_test_i64s(CV_TEST_SHAPE(4), (int64_t[]){0, 1, 0, 2}), false);
    cv_test_node_const(&tc, cv_test_scalar_f32(2.0f), true);
    cv_test_node_add(&tc, 1);
    memset(alt, 0, sizeof alt);
    alt[1][2] = cv_test_scalar_f32(-3.0f);
    alt[2][2] = cv_test_scalar_f32(7.0f);
    cv_test_node_exact(&tc);
    tc_check_wave(&tc, 3, wave_rows, alt);

}

/* More tenants than one launch's slice table holds: the per-slice path,
 * one launch per tenant. */
static void test_wave_many(void **state)
{
    enum { N = 66 };
    int64_t rows[N];
    for (int s = 0; s < N; s++) rows[s] = 1 + s % 2;
    cv_tensor_t *(*alt)[CV_TEST_NODE_MAX_IN] = cv_calloc(MAX_SLICES, sizeof *alt);
    assert_non_null(alt);
    cv_test_node_t tc;
    cv_test_node_new(&tc, CV_OP_ADD, 17, "wave of 66 tenants");
    cv_test_node_input(&tc, cv_test_uniform(CV_TEST_SHAPE(99, 3, 5), 1300));
    cv_test_node_const(&tc, cv_test_uniform(CV_TEST_SHAPE(3, 1), 1301), true);
    cv_test_node_add(&tc, 1);
    for (int s = 1; s < N; s++) alt[s][1] = cv_test_uniform(CV_TEST_SHAPE(3, 1), 1310 + s);
    cv_test_node_exact(&tc);
    tc_check_wave(&tc, N, rows, alt);
    cv_free(alt);
}

static int setup(void **state)
{
    cv_err_t err;
    if (cv_backend_cuda_create(0, &G, &err) != CV_STATUS_OK) {
        fprintf(stderr, "CUDA backend: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    if (G) G->iface->destroy(G);
    return 0;
}

int main(void)
{
    int rc = cv_test_gpu_skip();
    if (rc) return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_binary_broadcast),
        cmocka_unit_test(test_prelu),
        cmocka_unit_test(test_variadic),
        cmocka_unit_test(test_equal_where),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_concat_split),
        cmocka_unit_test(test_slice_gather),
        cmocka_unit_test(test_expand_tile),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_batch_norm),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_lrn),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_unsupported_dtype),
        cmocka_unit_test(test_wave_batch_norm),
        cmocka_unit_test(test_wave_elementwise),
        cmocka_unit_test(test_wave_other),
        cmocka_unit_test(test_wave_many),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else /* !CARAVEL_WITH_CUDA */

int main(void) { return cv_test_gpu_skip(); }

#endif
