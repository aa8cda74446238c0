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
#include "testutil.h"

#include "backend/backend.h"
#include "backend/cpu/cpu.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifdef CARAVEL_WITH_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/cuda_internal.h"

#define S(...)                                                                           \
    ((cv_shape_t){.ndim = CV_ARRAY_LEN(((int64_t[]){__VA_ARGS__})), .dims = {__VA_ARGS__}})
#define SCALAR ((cv_shape_t){.ndim = 0})
#define MAX_IN 8
#define MAX_OUT 4
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

/* ---- host tensors ----------------------------------------------------------- */

static cv_tensor_t *mk(cv_dtype_t dtype, cv_shape_t shape, const void *values)
{
    cv_tensor_t *t = cv_tensor_new(dtype, &shape);
    assert_non_null(t);
    if (values) memcpy(t->data, values, cv_tensor_nbytes(t));
    return t;
}

/* FP32 uniform in [offset - scale, offset + scale). */
static cv_tensor_t *rnd(cv_shape_t shape, uint64_t seed, float scale, float offset)
{
    cv_tensor_t *t = mk(CV_DTYPE_FP32, shape, NULL);
    cv_test_fill_random(t, seed);
    float *p = t->data;
    for (int64_t i = 0; i < cv_shape_numel(&shape); i++) p[i] = p[i] * scale + offset;
    return t;
}

static cv_tensor_t *uni(cv_shape_t shape, uint64_t seed) { return rnd(shape, seed, 1.0f, 0.0f); }

/* In [0.1, 2.1): for Sqrt, Log, Pow bases, divisors, variances. */
static cv_tensor_t *pos(cv_shape_t shape, uint64_t seed) { return rnd(shape, seed, 1.0f, 1.1f); }

static cv_tensor_t *scalar_f(float v) { return mk(CV_DTYPE_FP32, SCALAR, &v); }

static cv_tensor_t *i64s(cv_shape_t shape, const int64_t *v)
{
    return mk(CV_DTYPE_INT64, shape, v);
}

/* Values from a few levels, so that Equal finds equal pairs. */
static cv_tensor_t *levels_f(cv_shape_t shape, uint64_t seed)
{
    cv_tensor_t *t = uni(shape, seed);
    float *p = t->data;
    for (int64_t i = 0; i < cv_shape_numel(&shape); i++) p[i] = roundf(p[i] * 2.0f);
    return t;
}

static cv_tensor_t *bools(cv_shape_t shape, uint64_t seed)
{
    cv_tensor_t *f = uni(shape, seed);
    cv_tensor_t *t = mk(CV_DTYPE_BOOL, shape, NULL);
    for (int64_t i = 0; i < cv_shape_numel(&shape); i++)
        ((uint8_t *)t->data)[i] = ((float *)f->data)[i] > 0.0f;
    cv_tensor_destroy(f);
    return t;
}

static cv_tensor_t *ints_of(cv_dtype_t dtype, cv_shape_t shape, uint64_t seed, int64_t range)
{
    cv_tensor_t *f = uni(shape, seed);
    cv_tensor_t *t = mk(dtype, shape, NULL);
    for (int64_t i = 0; i < cv_shape_numel(&shape); i++)
        cv_tensor_set_i64(t, i, (int64_t)lrintf(((float *)f->data)[i] * (float)range));
    cv_tensor_destroy(f);
    return t;
}

/* Rows [row0, row0 + rows) of a tensor stacked along dim 0 of `total` rows. */
static cv_tensor_t row_view(const cv_tensor_t *t, int64_t row0, int64_t rows, int64_t total)
{
    cv_tensor_t v = *t;
    int64_t per_row = t->shape.dims[0] / total;
    int64_t row_elems = cv_shape_numel(&t->shape) / (t->shape.dims[0] ? t->shape.dims[0] : 1);
    v.shape.dims[0] = per_row * rows;
    v.data = (char *)t->data + (size_t)(row0 * per_row * row_elems) * cv_dtype_size(t->dtype);
    return v;
}

/* ---- comparing ---------------------------------------------------------------- */

static double elem_f64(const cv_tensor_t *t, int64_t i)
{
    if (t->dtype == CV_DTYPE_FP32) return ((const float *)t->data)[i];
    if (t->dtype == CV_DTYPE_FP16) return cv_fp16_to_fp32(((const uint16_t *)t->data)[i]);
    return cv_tensor_get_f64(t, i);
}

/* GPU against CPU: floats within abs_tol + rel * |cpu| (NaN matches NaN,
 * infinities must be equal; rel = abs_tol = 0 asks for equality); other
 * dtypes bit for bit. */
static void compare(const char *what, const cv_tensor_t *gpu, const cv_tensor_t *cpu, double rel,
                    double abs_tol)
{
    char sg[96], sc[96];
    if (gpu->dtype != cpu->dtype || !cv_shape_equal(&gpu->shape, &cpu->shape))
        fail_msg("%s: GPU output is %s %s, CPU's %s %s", what, cv_dtype_name(gpu->dtype),
                 cv_shape_str(&gpu->shape, sg, sizeof sg), cv_dtype_name(cpu->dtype),
                 cv_shape_str(&cpu->shape, sc, sizeof sc));
    int64_t n = cv_shape_numel(&cpu->shape);
    bool floats = cpu->dtype == CV_DTYPE_FP32 || cpu->dtype == CV_DTYPE_FP16;
    size_t es = cv_dtype_size(cpu->dtype);
    for (int64_t i = 0; i < n; i++) {
        if (!floats) {
            if (memcmp((const char *)gpu->data + i * es, (const char *)cpu->data + i * es, es))
                fail_msg("%s: element %lld: GPU %lld, CPU %lld", what, (long long)i,
                         (long long)cv_tensor_get_i64(gpu, i),
                         (long long)cv_tensor_get_i64(cpu, i));
            continue;
        }
        double a = elem_f64(gpu, i), b = elem_f64(cpu, i);
        if (isnan(a) && isnan(b)) continue;
        bool ok = isinf(b) || isinf(a) ? a == b : fabs(a - b) <= abs_tol + rel * fabs(b);
        if (!ok)
            fail_msg("%s: element %lld of %lld: GPU %.9g, CPU %.9g (diff %.3g)", what, (long long)i,
                     (long long)n, a, b, fabs(a - b));
    }
}

/* Largest |a - b| over FP32 tensors of one shape. */
static double max_diff(const cv_tensor_t *a, const cv_tensor_t *b)
{
    double m = 0;
    for (int64_t i = 0; i < cv_shape_numel(&a->shape); i++)
        m = fmax(m, fabs((double)((const float *)a->data)[i] - ((const float *)b->data)[i]));
    return m;
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

/* ---- cases: one-node graphs ----------------------------------------------------- */

typedef struct tcase {
    const char *label;
    cv_op_t op;
    cv_graph_t *g;
    int nin, nout, node;
    int values[MAX_IN];           /* graph value of each input, -1 when absent */
    cv_tensor_t *runtime[MAX_IN]; /* host data of run-time inputs (owned) */
    double rel, abs_tol;
} tcase_t;

static void tc_new(tcase_t *tc, cv_op_t op, int opset, const char *label)
{
    memset(tc, 0, sizeof *tc);
    tc->label = label;
    tc->op = op;
    tc->g = cv_graph_create("test_gpu_kernels");
    assert_non_null(tc->g);
    tc->g->opset = opset;
    tc->node = -1;
    tc->rel = 1e-5;
    tc->abs_tol = 1e-6;
}

static void tc_exact(tcase_t *tc) { tc->rel = tc->abs_tol = 0.0; }

/* Tolerance of transcendental functions and of sums in another order. */
static void tc_loose(tcase_t *tc) { tc->rel = tc->abs_tol = 1e-5; }

/* A run-time input (an activation); takes t. */
static void tc_in(tcase_t *tc, cv_tensor_t *t)
{
    CV_ASSERT(tc->nin < MAX_IN && tc->node < 0);
    char name[32];
    snprintf(name, sizeof name, "in%d", tc->nin);
    int v = cv_graph_add_value(tc->g, name);
    assert_true(v >= 0);
    tc->g->values[v].dtype = t->dtype;
    tc->g->values[v].shape = t->shape;
    tc->values[tc->nin] = v;
    tc->runtime[tc->nin++] = t;
}

/* A constant input; a weight differs between tenants. Takes t. */
static void tc_const(tcase_t *tc, cv_tensor_t *t, bool weight)
{
    CV_ASSERT(tc->nin < MAX_IN && tc->node < 0);
    char name[32];
    snprintf(name, sizeof name, "const%d", tc->nin);
    int v = cv_graph_add_constant(tc->g, name, t, weight);
    assert_true(v >= 0);
    tc->values[tc->nin++] = v;
}

static void tc_absent(tcase_t *tc) { tc->values[tc->nin++] = -1; }

static void tc_node(tcase_t *tc, int nout)
{
    CV_ASSERT(nout <= MAX_OUT);
    int outs[MAX_OUT];
    for (int o = 0; o < nout; o++) {
        char name[32];
        snprintf(name, sizeof name, "out%d", o);
        outs[o] = cv_graph_add_value(tc->g, name);
        assert_true(outs[o] >= 0);
    }
    tc->node = cv_graph_add_node(tc->g, tc->label, tc->op, tc->values, tc->nin, outs, nout);
    assert_true(tc->node >= 0);
    tc->nout = nout;
}

static void tc_attr(tcase_t *tc, cv_attr_t *a)
{
    assert_true(tc->node >= 0);
    assert_int_equal(cv_node_add_attr(&tc->g->nodes[tc->node], a), CV_STATUS_OK);
}

static void tc_int(tcase_t *tc, const char *name, int64_t v)
{
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_INT, .i = v};
    tc_attr(tc, &a);
}

static void tc_float(tcase_t *tc, const char *name, float v)
{
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_FLOAT, .f = v};
    tc_attr(tc, &a);
}

static void tc_string(tcase_t *tc, const char *name, const char *s)
{
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_STRING, .s = cv_strdup(s)};
    tc_attr(tc, &a);
}

static void tc_ints(tcase_t *tc, const char *name, const int64_t *v, int n)
{
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_INTS, .n = n};
    a.ints = cv_malloc(sizeof(int64_t) * (size_t)n);
    assert_non_null(a.ints);
    memcpy(a.ints, v, sizeof(int64_t) * (size_t)n);
    tc_attr(tc, &a);
}

static bool tc_is_const(const tcase_t *tc, int i)
{
    return tc->values[i] >= 0 && tc->g->values[tc->values[i]].constant;
}

static bool tc_is_weight(const tcase_t *tc, int i)
{
    return tc_is_const(tc, i) && tc->g->values[tc->values[i]].is_weight;
}

static void tc_free(tcase_t *tc)
{
    for (int i = 0; i < tc->nin; i++)
        if (tc->runtime[i]) cv_tensor_destroy(tc->runtime[i]);
    cv_graph_destroy(tc->g);
}

/* Infers the outputs of the node on `ins` (host tensors) and allocates them. */
static void tc_infer(const tcase_t *tc, const cv_tensor_t *const *ins, cv_tensor_t *outs)
{
    cv_tensor_t shells[MAX_IN];
    const cv_tensor_t *sp[MAX_IN];
    cv_tensor_t *op[MAX_OUT];
    for (int i = 0; i < tc->nin; i++) {
        sp[i] = NULL;
        if (!ins[i]) continue;
        shells[i] = *ins[i];
        if (!tc_is_const(tc, i)) shells[i].data = NULL;
        sp[i] = &shells[i];
    }
    memset(outs, 0, sizeof(cv_tensor_t) * MAX_OUT);
    for (int o = 0; o < tc->nout; o++) op[o] = &outs[o];
    cv_op_args_t args = {.node = &tc->g->nodes[tc->node], .inputs = sp, .ninputs = tc->nin,
                         .outputs = op, .noutputs = tc->nout};
    cv_err_t err = {{0}};
    cv_status st = cv_op_def(tc->op)->infer(&args, &err);
    if (st != CV_STATUS_OK) fail_msg("%s: infer: %s", tc->label, err.msg);
    for (int o = 0; o < tc->nout; o++) {
        cv_shape_t shape = outs[o].shape;
        assert_int_equal(cv_tensor_alloc(&outs[o], outs[o].dtype, &shape), CV_STATUS_OK);
    }
}

static void tc_cpu(const tcase_t *tc, const cv_tensor_t *const *ins, cv_tensor_t *outs)
{
    cv_tensor_t *op[MAX_OUT];
    for (int o = 0; o < tc->nout; o++) op[o] = &outs[o];
    cv_cpu_ctx_t ctx = {.threads = 1};
    cv_op_args_t args = {.node = &tc->g->nodes[tc->node], .inputs = ins, .ninputs = tc->nin,
                         .outputs = op, .noutputs = tc->nout, .cpu = &ctx};
    cv_err_t err = {{0}};
    cv_status st = cv_op_def(tc->op)->cpu(&args, &err);
    cv_cpu_ctx_release(&ctx);
    if (st != CV_STATUS_OK) fail_msg("%s: CPU kernel: %s", tc->label, err.msg);
}

/* Host inputs of slice 0: run-time data or the graph's constants. */
static void tc_host_inputs(const tcase_t *tc, const cv_tensor_t **ins)
{
    for (int i = 0; i < tc->nin; i++) {
        int v = tc->values[i];
        ins[i] = v < 0 ? NULL : tc_is_const(tc, i) ? tc->g->values[v].constant : tc->runtime[i];
    }
}

/* Runs the CUDA entry on `run` and returns its status (err set). */
static cv_status tc_launch(const tcase_t *tc, const cv_step_run_t *run, cv_err_t *err)
{
    err->msg[0] = 0;
    return entry_for(tc->op)((cv_cuda_t *)G, run, err);
}

/* Infer, CPU kernel, CUDA entry (one slice), compare every output. */
static void tc_check(tcase_t *tc)
{
    const cv_tensor_t *ins[MAX_IN];
    cv_tensor_t cpu[MAX_OUT], gpu[MAX_OUT];
    tc_host_inputs(tc, ins);
    tc_infer(tc, ins, cpu);
    tc_cpu(tc, ins, cpu);

    void **consts = cv_calloc((size_t)tc->g->nvalues + 1, sizeof(void *));
    assert_non_null(consts);
    cv_tensor_t din[MAX_IN], dout[MAX_OUT];
    const cv_tensor_t *dp[MAX_IN];
    cv_tensor_t *dop[MAX_OUT];
    bool batched[MAX_IN] = {false}, out_batched[MAX_OUT] = {false};
    for (int i = 0; i < tc->nin; i++) {
        dp[i] = NULL;
        if (!ins[i]) continue;
        din[i] = *ins[i];
        din[i].data = dev_upload(ins[i]);
        dp[i] = &din[i];
        if (tc_is_const(tc, i)) consts[tc->values[i]] = din[i].data;
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
        compare(what, &gpu[o], &cpu[o], tc->rel, tc->abs_tol);
        cv_tensor_free(&gpu[o]);
        cv_tensor_free(&cpu[o]);
        G->iface->free(G, dout[o].data);
    }
    for (int i = 0; i < tc->nin; i++)
        if (dp[i]) G->iface->free(G, din[i].data);
    cv_free(consts);
    tc_free(tc);
}

/* ---- cases: waves of several tenants ---------------------------------------------- */

/* Runs the case as one wave of `nslices` tenants with rows[s] rows each:
 * run-time inputs are stacked along dim 0 (their dim 0 is the total), the
 * weight of input i for slice s > 0 is alt[s][i] (slice 0 has the graph's).
 * Each slice's rows of every output must equal the CPU kernel run on that
 * slice alone with its tenant's weights; slice 1 run with slice 0's
 * weights must differ from the wave's slice 1. Takes the alt tensors. */
static void tc_check_wave(tcase_t *tc, int nslices, const int64_t *rows,
                          cv_tensor_t *(*alt)[MAX_IN])
{
    CV_ASSERT(nslices >= 2 && nslices <= MAX_SLICES);
    int64_t total = 0, row0[MAX_SLICES];
    for (int s = 0; s < nslices; s++) {
        row0[s] = total;
        total += rows[s];
    }
    const cv_tensor_t *ins[MAX_IN];
    cv_tensor_t whole[MAX_OUT];
    tc_host_inputs(tc, ins);
    tc_infer(tc, ins, whole);

    /* Device: run-time inputs once, constants per slice. */
    void **consts[MAX_SLICES];
    void *owned[MAX_SLICES][MAX_IN] = {{NULL}};
    cv_tensor_t din[MAX_IN], dout[MAX_OUT];
    const cv_tensor_t *dp[MAX_IN];
    cv_tensor_t *dop[MAX_OUT];
    bool batched[MAX_IN] = {false}, out_batched[MAX_OUT];
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
        if (!tc_is_const(tc, i)) {
            assert_int_equal(ins[i]->shape.dims[0], total);
            batched[i] = true;
            continue;
        }
        for (int s = 0; s < nslices; s++) {
            void *d = din[i].data;
            if (s > 0 && tc_is_weight(tc, i)) {
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
        const cv_tensor_t *sin[MAX_IN];
        cv_tensor_t views[MAX_IN], ref[MAX_OUT];
        for (int i = 0; i < tc->nin; i++) {
            sin[i] = ins[i];
            if (!ins[i]) continue;
            if (batched[i]) {
                views[i] = row_view(ins[i], row0[slice], rows[slice], total);
                sin[i] = &views[i];
            } else if (weights_of > 0 && tc_is_weight(tc, i)) {
                sin[i] = alt[weights_of][i];
            }
        }
        tc_infer(tc, sin, ref);
        tc_cpu(tc, sin, ref);
        for (int o = 0; o < tc->nout; o++) {
            cv_tensor_t got = row_view(&whole[o], row0[slice], rows[slice], total);
            char what[160];
            snprintf(what, sizeof what, "%s (%s), wave slice %d, output %d", tc->label,
                     cv_op_name(tc->op), slice, o);
            if (s < nslices) {
                compare(what, &got, &ref[o], tc->rel, tc->abs_tol);
            } else if (o == 0 && !(max_diff(&got, &ref[o]) > 1e-3)) {
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
    tc_free(tc);
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
        tcase_t tc;
        tc_new(&tc, cases[k].op, 17, cases[k].label);
        cv_shape_t s = S(2, 3, 5, 7);
        tc_in(&tc, cases[k].positive ? pos(s, 10 + k) : rnd(s, 10 + k, cases[k].scale, 0.0f));
        tc_node(&tc, 1);
        if (cases[k].op == CV_OP_LEAKY_RELU) tc_float(&tc, "alpha", 0.2f);
        if (cases[k].op == CV_OP_ELU) tc_float(&tc, "alpha", 0.7f);
        if (cases[k].op == CV_OP_HARD_SIGMOID) {
            tc_float(&tc, "alpha", 0.3f);
            tc_float(&tc, "beta", 0.4f);
        }
        if (cases[k].exact) tc_exact(&tc);
        else tc_loose(&tc);
        tc_check(&tc);
    }
    /* Gelu's tanh approximation; a tensor of a million elements (many
     * blocks, grid-stride loop). */
    tcase_t tc;
    tc_new(&tc, CV_OP_GELU, 20, "gelu tanh");
    tc_in(&tc, rnd(S(3, 4, 5), 30, 3.0f, 0.0f));
    tc_node(&tc, 1);
    tc_string(&tc, "approximate", "tanh");
    tc_loose(&tc);
    tc_check(&tc);
    tc_new(&tc, CV_OP_TANH, 17, "tanh, 2^20 elements");
    tc_in(&tc, rnd(S(1024, 1024), 31, 3.0f, 0.0f));
    tc_node(&tc, 1);
    tc_loose(&tc);
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
        tcase_t tc;
        tc_new(&tc, CV_OP_CLIP, 13, cases[k].label);
        tc_in(&tc, uni(S(4, 6, 5), 40 + k));
        if (cases[k].has_lo) tc_const(&tc, scalar_f(cases[k].lo), true);
        else tc_absent(&tc);
        if (cases[k].has_hi) tc_const(&tc, scalar_f(cases[k].hi), true);
        tc_node(&tc, 1);
        tc_exact(&tc);
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
        {S(2, 3, 4, 5), S(2, 3, 4, 5)},
        {S(2, 3, 4, 5), S(3, 1, 1)},
        {S(3, 1, 1), S(2, 3, 4, 5)},
        {S(2, 3, 4, 5), SCALAR},
        {S(2, 3, 4, 5), S(5)},
        {S(2, 1, 4, 1), S(1, 3, 1, 5)},
        {S(2, 3, 4, 5), S(2, 1, 4, 1)},
        {S(2, 1, 2, 1, 2, 1, 2, 3), S(1, 2, 1, 2, 1, 2, 1, 3)},
        {S(1, 1), S(1)},
        {S(4, 0, 3), S(3)},
    };
    static const cv_op_t ops[] = {CV_OP_ADD, CV_OP_SUB, CV_OP_MUL, CV_OP_DIV,
                                  CV_OP_POW, CV_OP_MIN, CV_OP_MAX};
    for (size_t k = 0; k < CV_ARRAY_LEN(ops); k++) {
        for (size_t j = 0; j < CV_ARRAY_LEN(shapes); j++) {
            cv_op_t op = ops[k];
            char label[64];
            snprintf(label, sizeof label, "%s shapes #%zu", cv_op_name(op), j);
            tcase_t tc;
            tc_new(&tc, op, 17, label);
            uint64_t seed = 100 * k + j;
            tc_in(&tc, op == CV_OP_POW ? pos(shapes[j].a, seed) : uni(shapes[j].a, seed));
            cv_tensor_t *b = op == CV_OP_DIV ? pos(shapes[j].b, seed + 50)
                             : op == CV_OP_POW ? rnd(shapes[j].b, seed + 50, 2.0f, 0.0f)
                                               : uni(shapes[j].b, seed + 50);
            /* Odd cases take B as a constant (a weight, as a bias is). */
            if (j % 2) tc_const(&tc, b, true);
            else tc_in(&tc, b);
            tc_node(&tc, 1);
            if (op == CV_OP_POW) tc_loose(&tc);
            else if (op != CV_OP_DIV) tc_exact(&tc);
            tc_check(&tc);
        }
    }
    /* Min and Max propagate NaN from either side; Pow(x, 2) is x * x. */
    for (int k = 0; k < 2; k++) {
        tcase_t tc;
        tc_new(&tc, k ? CV_OP_MAX : CV_OP_MIN, 17, k ? "max with NaNs" : "min with NaNs");
        cv_tensor_t *a = uni(S(3, 8), 60), *b = uni(S(3, 8), 61);
        ((float *)a->data)[3] = NAN;
        ((float *)b->data)[5] = NAN;
        tc_in(&tc, a);
        tc_in(&tc, b);
        tc_node(&tc, 1);
        tc_exact(&tc);
        tc_check(&tc);
    }
    tcase_t tc;
    tc_new(&tc, CV_OP_POW, 17, "pow square");
    tc_in(&tc, uni(S(5, 7), 62));
    tc_const(&tc, scalar_f(2.0f), true);
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);
    /* Same shape over a million elements. */
    tc_new(&tc, CV_OP_ADD, 17, "add, 2^20 elements");
    tc_in(&tc, uni(S(1024, 1024), 63));
    tc_in(&tc, uni(S(1024, 1024), 64));
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);
}

static void test_prelu(void **state)
{
    static const cv_shape_t slopes[] = {S(3, 1, 1), S(1), S(2, 3, 4, 5), S(5)};
    for (size_t k = 0; k < CV_ARRAY_LEN(slopes); k++) {
        tcase_t tc;
        tc_new(&tc, CV_OP_PRELU, 16, "prelu");
        tc_in(&tc, uni(S(2, 3, 4, 5), 70 + k));
        tc_const(&tc, rnd(slopes[k], 80 + k, 0.5f, 0.25f), true);
        tc_node(&tc, 1);
        tc_exact(&tc);
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
            tcase_t tc;
            tc_new(&tc, ops[k], 13, label);
            static const cv_shape_t shapes[3] = {S(4), S(3, 1), S(2, 3, 4)};
            for (int i = 0; i < n; i++) {
                cv_tensor_t *t = uni(n == 1 ? S(2, 3, 4) : shapes[i], 90 + 10 * k + i);
                if (i == 1) tc_const(&tc, t, true);
                else tc_in(&tc, t);
            }
            tc_node(&tc, 1);
            tc_exact(&tc);
            tc_check(&tc);
        }
    }
}

static void test_equal_where(void **state)
{
    tcase_t tc;
    tc_new(&tc, CV_OP_EQUAL, 13, "equal fp32 broadcast");
    tc_in(&tc, levels_f(S(2, 3, 4), 110));
    tc_in(&tc, levels_f(S(3, 1), 111));
    tc_node(&tc, 1);
    tc_check(&tc);

    tc_new(&tc, CV_OP_EQUAL, 13, "equal int64");
    tc_in(&tc, ints_of(CV_DTYPE_INT64, S(5, 6), 112, 2));
    tc_in(&tc, ints_of(CV_DTYPE_INT64, S(5, 6), 113, 2));
    tc_node(&tc, 1);
    tc_check(&tc);

    tc_new(&tc, CV_OP_EQUAL, 13, "equal int32");
    tc_in(&tc, ints_of(CV_DTYPE_INT32, S(5, 6), 114, 2));
    tc_in(&tc, ints_of(CV_DTYPE_INT32, S(6), 115, 2));
    tc_node(&tc, 1);
    tc_check(&tc);

    tc_new(&tc, CV_OP_EQUAL, 13, "equal bool");
    tc_in(&tc, bools(S(4, 5), 116));
    tc_in(&tc, bools(S(4, 5), 117));
    tc_node(&tc, 1);
    tc_check(&tc);

    tc_new(&tc, CV_OP_WHERE, 16, "where fp32, scalar Y");
    tc_in(&tc, bools(S(2, 1, 4), 118));
    tc_in(&tc, uni(S(2, 3, 4), 119));
    tc_const(&tc, scalar_f(-7.5f), true);
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_WHERE, 16, "where fp32, general broadcast");
    tc_in(&tc, bools(S(2, 1, 4, 1), 120));
    tc_in(&tc, uni(S(1, 3, 1, 5), 121));
    tc_in(&tc, uni(S(2, 3, 4, 5), 122));
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_WHERE, 16, "where int64");
    tc_in(&tc, bools(S(3, 4), 123));
    tc_in(&tc, ints_of(CV_DTYPE_INT64, S(3, 4), 124, 1000));
    tc_in(&tc, ints_of(CV_DTYPE_INT64, S(4), 125, 1000));
    tc_node(&tc, 1);
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
    cv_shape_t fs = S((int64_t)CV_ARRAY_LEN(fv)), is = S((int64_t)CV_ARRAY_LEN(iv));
    for (size_t k = 0; k < CV_ARRAY_LEN(from_f32); k++) {
        tcase_t tc;
        tc_new(&tc, CV_OP_CAST, 19, "cast from fp32");
        tc_in(&tc, mk(CV_DTYPE_FP32, fs, fv));
        tc_node(&tc, 1);
        tc_int(&tc, "to", from_f32[k]);
        tc_exact(&tc);
        tc_check(&tc);
    }
    for (size_t k = 0; k < CV_ARRAY_LEN(from_i64); k++) {
        tcase_t tc;
        tc_new(&tc, CV_OP_CAST, 19, "cast from int64");
        tc_in(&tc, mk(CV_DTYPE_INT64, is, iv));
        tc_node(&tc, 1);
        tc_int(&tc, "to", from_i64[k]);
        tc_exact(&tc);
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
        tcase_t tc;
        tc_new(&tc, CV_OP_CAST, 19, "cast fp16/bool/int32");
        cv_tensor_t *x;
        if (pairs[k].from == CV_DTYPE_FP16) x = mk(CV_DTYPE_FP16, fs, hv);
        else if (pairs[k].from == CV_DTYPE_BOOL) x = bools(S(3, 7), 130);
        else x = ints_of(CV_DTYPE_INT32, S(3, 7), 131, 100000);
        tc_in(&tc, x);
        tc_node(&tc, 1);
        tc_int(&tc, "to", pairs[k].to);
        tc_exact(&tc);
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
        {CV_OP_MAX_POOL, S(2, 3, 9, 9), 2,
         {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, 0, 0, NULL, "max 3x3 s2 p1"},
        {CV_OP_MAX_POOL, S(1, 2, 8, 8), 2,
         {3, 3}, {2, 2}, {1, 1}, {0}, false, false, 1, 0, NULL, "max ceil_mode"},
        {CV_OP_MAX_POOL, S(1, 2, 10, 10), 2,
         {3, 3}, {1, 1}, {2, 2}, {0}, false, true, 0, 0, NULL, "max dilations 2"},
        {CV_OP_MAX_POOL, S(2, 3, 11), 1,
         {3}, {2}, {1}, {1, 1}, true, false, 0, 0, NULL, "max 1-D"},
        {CV_OP_MAX_POOL, S(1, 2, 7, 7), 2,
         {3, 3}, {2, 2}, {1, 1}, {0}, false, false, 0, 0, "SAME_UPPER", "max SAME_UPPER"},
        {CV_OP_MAX_POOL, S(1, 2, 6, 7), 2,
         {2, 3}, {2, 1}, {1, 1}, {1, 0, 0, 1}, true, false, 1, 0, NULL, "max ceil_mode pads"},
        {CV_OP_AVERAGE_POOL, S(2, 3, 9, 9), 2,
         {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, 0, 0, NULL, "avg exclude pad"},
        {CV_OP_AVERAGE_POOL, S(2, 3, 9, 9), 2,
         {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, 0, 1, NULL, "avg include pad"},
        {CV_OP_AVERAGE_POOL, S(1, 2, 8, 8), 2,
         {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, 1, 1, NULL, "avg ceil include pad"},
        {CV_OP_AVERAGE_POOL, S(1, 2, 8, 8), 2,
         {3, 3}, {2, 2}, {1, 1}, {0}, false, false, 1, 0, NULL, "avg ceil_mode"},
        {CV_OP_AVERAGE_POOL, S(2, 3, 12), 1,
         {4}, {3}, {1}, {2, 1}, true, false, 1, 1, NULL, "avg 1-D"},
        {CV_OP_AVERAGE_POOL, S(1, 2, 7, 7), 2,
         {2, 2}, {2, 2}, {1, 1}, {0}, false, false, 0, 0, "SAME_LOWER", "avg SAME_LOWER"},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        const pool_case_t *c = &cases[k];
        tcase_t tc;
        tc_new(&tc, c->op, 19, c->label);
        tc_in(&tc, uni(c->x, 140 + k));
        tc_node(&tc, 1);
        tc_ints(&tc, "kernel_shape", c->k, c->nd);
        tc_ints(&tc, "strides", c->s, c->nd);
        if (c->has_dil) tc_ints(&tc, "dilations", c->d, c->nd);
        if (c->has_pads) tc_ints(&tc, "pads", c->pads, 2 * c->nd);
        if (c->auto_pad) tc_string(&tc, "auto_pad", c->auto_pad);
        if (c->ceil) tc_int(&tc, "ceil_mode", 1);
        if (c->include_pad) tc_int(&tc, "count_include_pad", 1);
        /* Averages: the CPU sums rows first and scales by reciprocals. */
        if (c->op == CV_OP_MAX_POOL) tc_exact(&tc);
        tc_check(&tc);
    }
    static const cv_shape_t globals[] = {S(2, 3, 7, 7), S(1, 2, 40, 40), S(2, 3, 5), S(2, 4, 1, 1)};
    for (size_t k = 0; k < CV_ARRAY_LEN(globals); k++) {
        for (int is_max = 0; is_max < 2; is_max++) {
            tcase_t tc;
            tc_new(&tc, is_max ? CV_OP_GLOBAL_MAX_POOL : CV_OP_GLOBAL_AVERAGE_POOL, 13,
                   is_max ? "global max" : "global average");
            tc_in(&tc, uni(globals[k], 160 + k));
            tc_node(&tc, 1);
            if (is_max) tc_exact(&tc);
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
        {S(2, 3, 4, 5), {0, 2, 3, 1}, 4},
        {S(2, 3, 4, 5), {3, 1, 0, 2}, 4},
        {S(2, 3, 4, 5), {0}, 0},
        {S(33, 65), {1, 0}, 2},
        {S(2, 3, 4), {0, 1, 2}, 3},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        tcase_t tc;
        tc_new(&tc, CV_OP_TRANSPOSE, 13, "transpose");
        tc_in(&tc, uni(cases[k].x, 170 + k));
        tc_node(&tc, 1);
        if (cases[k].n) tc_ints(&tc, "perm", cases[k].perm, cases[k].n);
        tc_exact(&tc);
        tc_check(&tc);
    }
    tcase_t tc;
    tc_new(&tc, CV_OP_TRANSPOSE, 13, "transpose int64");
    tc_in(&tc, ints_of(CV_DTYPE_INT64, S(3, 4), 176, 1000));
    tc_node(&tc, 1);
    tc_ints(&tc, "perm", (int64_t[]){1, 0}, 2);
    tc_check(&tc);
}

static void test_concat_split(void **state)
{
    static const struct {
        cv_shape_t a, b, c;
        int64_t axis;
    } cases[] = {
        {S(2, 3, 4), S(2, 1, 4), S(2, 2, 4), 1},
        {S(1, 3, 4), S(2, 3, 4), S(1, 3, 4), 0},
        {S(2, 3, 1), S(2, 3, 5), S(2, 3, 2), -1},
        {S(2, 3, 4), S(2, 3, 4), S(2, 3, 0), 2},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        tcase_t tc;
        tc_new(&tc, CV_OP_CONCAT, 13, "concat");
        tc_in(&tc, uni(cases[k].a, 180 + k));
        tc_const(&tc, uni(cases[k].b, 185 + k), true);
        tc_in(&tc, uni(cases[k].c, 190 + k));
        tc_node(&tc, 1);
        tc_int(&tc, "axis", cases[k].axis);
        tc_exact(&tc);
        tc_check(&tc);
    }
    tcase_t tc;
    tc_new(&tc, CV_OP_CONCAT, 13, "concat int64 (shapes)");
    tc_in(&tc, i64s(S(1), (int64_t[]){-1}));
    tc_const(&tc, i64s(S(2), (int64_t[]){3, 224}), false);
    tc_node(&tc, 1);
    tc_int(&tc, "axis", 0);
    tc_check(&tc);

    tc_new(&tc, CV_OP_SPLIT, 13, "split equal");
    tc_in(&tc, uni(S(2, 6, 4), 195));
    tc_node(&tc, 3);
    tc_int(&tc, "axis", 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_SPLIT, 13, "split sizes");
    tc_in(&tc, uni(S(2, 6, 4), 196));
    tc_const(&tc, i64s(S(3), (int64_t[]){1, 3, 2}), false);
    tc_node(&tc, 3);
    tc_int(&tc, "axis", 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_SPLIT, 13, "split last axis");
    tc_in(&tc, uni(S(3, 8), 197));
    tc_node(&tc, 2);
    tc_int(&tc, "axis", -1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_SPLIT, 18, "split num_outputs");
    tc_in(&tc, uni(S(2, 7), 198));
    tc_node(&tc, 3);
    tc_int(&tc, "axis", 1);
    tc_int(&tc, "num_outputs", 3);
    tc_exact(&tc);
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
        tcase_t tc;
        tc_new(&tc, CV_OP_SLICE, 13, "slice");
        int n = cases[k].n;
        tc_in(&tc, uni(S(5, 6, 7), 200 + k));
        tc_const(&tc, i64s(S(n), cases[k].starts), false);
        tc_const(&tc, i64s(S(n), cases[k].ends), false);
        if (cases[k].has_axes) tc_const(&tc, i64s(S(n), cases[k].axes), false);
        else if (cases[k].has_steps) tc_absent(&tc);
        if (cases[k].has_steps) tc_const(&tc, i64s(S(n), cases[k].steps), false);
        tc_node(&tc, 1);
        tc_exact(&tc);
        tc_check(&tc);
    }

    tcase_t tc;
    tc_new(&tc, CV_OP_GATHER, 13, "gather axis 0, int64 indices");
    tc_in(&tc, uni(S(5, 4, 3), 210));
    tc_in(&tc, i64s(S(2, 2), (int64_t[]){0, -1, 3, 2}));
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_GATHER, 13, "gather axis 1, int32 constant indices");
    tc_in(&tc, uni(S(5, 4, 3), 211));
    tc_const(&tc, mk(CV_DTYPE_INT32, S(3), (int32_t[]){3, 0, -2}), false);
    tc_node(&tc, 1);
    tc_int(&tc, "axis", 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_GATHER, 13, "gather scalar index, last axis");
    tc_in(&tc, uni(S(5, 4, 3), 212));
    tc_const(&tc, i64s(SCALAR, (int64_t[]){-1}), false);
    tc_node(&tc, 1);
    tc_int(&tc, "axis", -1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_GATHER, 13, "gather int64 data (shapes)");
    tc_in(&tc, i64s(S(4), (int64_t[]){1, 3, 224, 224}));
    tc_const(&tc, i64s(SCALAR, (int64_t[]){0}), false);
    tc_node(&tc, 1);
    tc_check(&tc);
}

static void test_expand_tile(void **state)
{
    tcase_t tc;
    tc_new(&tc, CV_OP_EXPAND, 13, "expand [3,1] to [2,3,4]");
    tc_in(&tc, uni(S(3, 1), 220));
    tc_const(&tc, i64s(S(3), (int64_t[]){2, 3, 4}), false);
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_EXPAND, 13, "expand [4] by [2,1,1]");
    tc_in(&tc, uni(S(4), 221));
    tc_const(&tc, i64s(S(3), (int64_t[]){2, 1, 1}), false);
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_TILE, 13, "tile [2,3] by [2,3]");
    tc_in(&tc, uni(S(2, 3), 222));
    tc_const(&tc, i64s(S(2), (int64_t[]){2, 3}), false);
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_TILE, 13, "tile [2,1,3] by [1,4,2]");
    tc_in(&tc, uni(S(2, 1, 3), 223));
    tc_const(&tc, i64s(S(3), (int64_t[]){1, 4, 2}), false);
    tc_node(&tc, 1);
    tc_exact(&tc);
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
        {"constant", S(2, 3, 4), {0, 1, 2, 0, 2, 1}, 6, true},
        {"constant", S(2, 3, 4), {0, -1, 1, 0, 1, -2}, 6, true},
        {"constant", S(2, 3, 4), {1, 0, 0, 0, 0, 1}, 6, false},
        {"reflect", S(3, 4), {1, 2, 2, 1}, 4, false},
        {"edge", S(3, 4), {2, 3, 1, 2}, 4, false},
        {"wrap", S(3, 4), {1, 2, 3, 1}, 4, false},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        tcase_t tc;
        tc_new(&tc, CV_OP_PAD, 19, cases[k].mode);
        tc_in(&tc, uni(cases[k].x, 230 + k));
        tc_const(&tc, i64s(S(cases[k].np), cases[k].pads), false);
        if (cases[k].value) tc_const(&tc, scalar_f(2.5f), true);
        tc_node(&tc, 1);
        tc_string(&tc, "mode", cases[k].mode);
        tc_exact(&tc);
        tc_check(&tc);
    }
    tcase_t tc;
    tc_new(&tc, CV_OP_PAD, 19, "pad with axes");
    tc_in(&tc, uni(S(2, 3, 4), 240));
    tc_const(&tc, i64s(S(2), (int64_t[]){1, 2}), false);
    tc_absent(&tc);
    tc_const(&tc, i64s(S(1), (int64_t[]){-1}), false);
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);
}

static void test_views(void **state)
{
    tcase_t tc;
    tc_new(&tc, CV_OP_RESHAPE, 14, "reshape");
    tc_in(&tc, uni(S(2, 3, 4), 250));
    tc_const(&tc, i64s(S(2), (int64_t[]){4, -1}), false);
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_FLATTEN, 13, "flatten");
    tc_in(&tc, uni(S(2, 3, 4), 251));
    tc_node(&tc, 1);
    tc_int(&tc, "axis", 2);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_SQUEEZE, 13, "squeeze");
    tc_in(&tc, uni(S(2, 1, 4), 252));
    tc_const(&tc, i64s(S(1), (int64_t[]){1}), false);
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_UNSQUEEZE, 13, "unsqueeze");
    tc_in(&tc, uni(S(2, 4), 253));
    tc_const(&tc, i64s(S(2), (int64_t[]){0, 3}), false);
    tc_node(&tc, 1);
    tc_exact(&tc);
    tc_check(&tc);

    tc_new(&tc, CV_OP_IDENTITY, 13, "identity int64");
    tc_in(&tc, ints_of(CV_DTYPE_INT64, S(3, 5), 254, 99));
    tc_node(&tc, 1);
    tc_check(&tc);

    tc_new(&tc, CV_OP_DROPOUT, 13, "dropout with mask");
    tc_in(&tc, uni(S(3, 5), 255));
    tc_node(&tc, 2);
    tc_exact(&tc);
    tc_check(&tc);

    /* The planner's aliasing: output storage is the input's; nothing moves. */
    cv_tensor_t *x = uni(S(2, 6), 256);
    cv_graph_t *g = cv_graph_create("alias");
    assert_non_null(g);
    g->opset = 14;
    int vx = cv_graph_add_value(g, "x");
    int vy = cv_graph_add_value(g, "y");
    int node = cv_graph_add_node(g, "reshape", CV_OP_FLATTEN, &vx, 1, &vy, 1);
    assert_true(vx >= 0 && vy >= 0 && node >= 0);
    cv_tensor_t dx = *x, dy = *x;
    dx.data = dy.data = dev_upload(x);
    dy.shape = S(12, 1);
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
    cv_tensor_t *back = mk(CV_DTYPE_FP32, S(2, 6), NULL);
    dev_download(back, dy.data);
    assert_memory_equal(back->data, x->data, cv_tensor_nbytes(x));
    G->iface->free(G, dx.data);
    cv_tensor_destroy(back);
    cv_tensor_destroy(x);
    cv_graph_destroy(g);
}

/* ---- nn ---------------------------------------------------------------------------------- */

static void add_bn_params(tcase_t *tc, int64_t channels, uint64_t seed)
{
    tc_const(tc, rnd(S(channels), seed, 0.5f, 1.0f), true);      /* scale */
    tc_const(tc, uni(S(channels), seed + 1), true);              /* B */
    tc_const(tc, rnd(S(channels), seed + 2, 0.3f, 0.0f), true);  /* mean */
    tc_const(tc, pos(S(channels), seed + 3), true);              /* var */
}

static void test_batch_norm(void **state)
{
    /* Per element ([N, C] and small planes) and per plane (planes of 256). */
    static const cv_shape_t shapes[] = {S(2, 3, 4, 5), S(4, 6), S(2, 3, 16, 16), S(2, 5, 7)};
    for (size_t k = 0; k < CV_ARRAY_LEN(shapes); k++) {
        tcase_t tc;
        tc_new(&tc, CV_OP_BATCH_NORMALIZATION, 15, "batch norm");
        tc_in(&tc, uni(shapes[k], 300 + k));
        add_bn_params(&tc, shapes[k].dims[1], 310 + 10 * k);
        tc_node(&tc, 1);
        tc_float(&tc, "epsilon", 1e-3f);
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
        {S(2, 3, 4), 11, 1, true, "opset 11 axis 1 (coerced to 2-D)"},
        {S(2, 3, 4), 11, 0, false, "opset 11 default axis"},
        {S(2, 3, 4), 11, 2, true, "opset 11 axis 2"},
        {S(2, 3, 4), 13, 1, true, "opset 13 axis 1 (one axis)"},
        {S(3, 5), 13, 0, false, "opset 13 default axis"},
        {S(4, 3), 13, 0, true, "opset 13 axis 0"},
        {S(2, 1500), 13, -1, true, "opset 13 long rows"},
        {S(2, 3, 2000), 11, 1, true, "opset 11 long coerced rows"},
    };
    for (int log_out = 0; log_out < 2; log_out++) {
        for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
            tcase_t tc;
            tc_new(&tc, log_out ? CV_OP_LOG_SOFTMAX : CV_OP_SOFTMAX, cases[k].opset,
                   cases[k].label);
            tc_in(&tc, rnd(cases[k].x, 330 + k, 4.0f, 0.0f));
            tc_node(&tc, 1);
            if (cases[k].has_axis) tc_int(&tc, "axis", cases[k].axis);
            tc_loose(&tc);
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
        {S(2, 3, 8), S(8), S(8), -1, true, 1, "last axis, scale and bias"},
        {S(2, 3, 4, 5), S(3, 4, 5), S(0), 1, false, 3, "axis 1, mean and inv std outputs"},
        {S(2, 1500), S(1500), S(1500), -1, true, 1, "long rows"},
        {S(3, 4, 5), S(1, 5), S(5), 1, true, 1, "scale broadcast over the normalized shape"},
        {S(3, 4, 5), S(1), S(1), 0, true, 3, "axis 0, scalar scale and bias"},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        tcase_t tc;
        tc_new(&tc, CV_OP_LAYER_NORMALIZATION, 17, cases[k].label);
        tc_in(&tc, rnd(cases[k].x, 350 + k, 2.0f, 0.5f));
        tc_const(&tc, rnd(cases[k].scale, 360 + k, 0.5f, 1.0f), true);
        if (cases[k].has_bias) tc_const(&tc, uni(cases[k].bias, 370 + k), true);
        tc_node(&tc, cases[k].nout);
        tc_int(&tc, "axis", cases[k].axis);
        tc_loose(&tc);
        tc_check(&tc);
    }
}

static void test_lrn(void **state)
{
    static const int64_t sizes[] = {3, 4, 1};
    for (size_t k = 0; k < CV_ARRAY_LEN(sizes); k++) {
        tcase_t tc;
        tc_new(&tc, CV_OP_LRN, 13, "lrn");
        tc_in(&tc, rnd(S(2, 5, 3, 3), 380 + k, 2.0f, 0.0f));
        tc_node(&tc, 1);
        tc_int(&tc, "size", sizes[k]);
        tc_float(&tc, "alpha", 0.01f);
        tc_float(&tc, "beta", 0.75f);
        tc_float(&tc, "bias", 1.5f);
        tc_loose(&tc);
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
        {S(2, 3, 4, 5), {1}, 1, 1, 0, "axis 1"},
        {S(2, 3, 4, 5), {-1}, 1, 0, 0, "last axis, no keepdims"},
        {S(2, 3, 4, 5), {0, 2}, 2, 1, 0, "axes 0 and 2"},
        {S(2, 3, 4, 5), {0}, 0, 1, 0, "all axes"},
        {S(2, 3, 4, 5), {1, 3}, 2, 0, 0, "axes 1 and 3"},
        {S(2, 3, 4, 5), {2, 3}, 2, 1, 0, "spatial (a global average)"},
        {S(2, 3, 4, 5), {0}, 0, 1, 1, "no axes, noop_with_empty_axes"},
        {S(3, 100), {1}, 1, 1, 0, "long inner run (a warp per output)"},
        {S(3, 100), {0}, 1, 1, 0, "outer axis"},
        {S(2, 0, 3), {1}, 1, 1, 0, "empty reduced axis"},
    };
    for (int mean = 0; mean < 2; mean++) {
        for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
            tcase_t tc;
            tc_new(&tc, mean ? CV_OP_REDUCE_MEAN : CV_OP_REDUCE_SUM, 18, cases[k].label);
            tc_in(&tc, uni(cases[k].x, 390 + k));
            if (cases[k].n) tc_const(&tc, i64s(S(cases[k].n), cases[k].axes), false);
            tc_node(&tc, 1);
            tc_int(&tc, "keepdims", cases[k].keepdims);
            if (cases[k].noop) tc_int(&tc, "noop_with_empty_axes", 1);
            tc_loose(&tc);
            tc_check(&tc);
        }
    }
}

/* An op on a dtype its kernel lacks answers UNSUPPORTED, naming both. */
static void test_unsupported_dtype(void **state)
{
    tcase_t tc;
    tc_new(&tc, CV_OP_RELU, 14, "relu int64");
    tc_in(&tc, ints_of(CV_DTYPE_INT64, S(4), 400, 10));
    tc_node(&tc, 1);
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
    tc_free(&tc);
}

/* ---- waves: per-tenant parameters ------------------------------------------------------ */

static const int64_t wave_rows[3] = {1, 2, 3}; /* 6 rows in all */

/* BatchNormalization with three tenants' statistics: per element and per
 * plane. */
static void test_wave_batch_norm(void **state)
{
    static const cv_shape_t shapes[] = {S(6, 3, 4, 5), S(6, 3, 16, 16), S(6, 4)};
    for (size_t k = 0; k < CV_ARRAY_LEN(shapes); k++) {
        tcase_t tc;
        int64_t c = shapes[k].dims[1];
        tc_new(&tc, CV_OP_BATCH_NORMALIZATION, 15, "wave batch norm");
        tc_in(&tc, uni(shapes[k], 500 + k));
        add_bn_params(&tc, c, 510 + 10 * k);
        tc_node(&tc, 1);
        cv_tensor_t *alt[MAX_SLICES][MAX_IN] = {{NULL}};
        for (int s = 1; s < 3; s++) {
            alt[s][1] = rnd(S(c), 600 + 10 * s + k, 0.5f, 1.0f);
            alt[s][2] = uni(S(c), 700 + 10 * s + k);
            alt[s][3] = rnd(S(c), 800 + 10 * s + k, 0.3f, 0.0f);
            alt[s][4] = pos(S(c), 900 + 10 * s + k);
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
        {CV_OP_ADD, S(6, 3, 4, 5), S(3, 1, 1)},
        {CV_OP_MUL, S(6, 4), SCALAR},
        {CV_OP_SUB, S(6, 3, 4, 5), S(3, 1, 5)},
        {CV_OP_DIV, S(6, 7), S(7)},
        {CV_OP_PRELU, S(6, 3, 4), S(3, 1)},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        tcase_t tc;
        tc_new(&tc, cases[k].op, 17, "wave elementwise");
        tc_in(&tc, uni(cases[k].x, 1000 + k));
        tc_const(&tc, pos(cases[k].w, 1010 + k), true);
        tc_node(&tc, 1);
        cv_tensor_t *alt[MAX_SLICES][MAX_IN] = {{NULL}};
        for (int s = 1; s < 3; s++) alt[s][1] = pos(cases[k].w, 1020 + 10 * s + k);
        tc_check_wave(&tc, 3, wave_rows, alt);
    }
    tcase_t tc;
    tc_new(&tc, CV_OP_SUM, 13, "wave sum");
    tc_in(&tc, uni(S(6, 4), 1100));
    tc_const(&tc, uni(S(4), 1101), true);
    tc_const(&tc, uni(S(1), 1102), true);
    tc_node(&tc, 1);
    cv_tensor_t *alt[MAX_SLICES][MAX_IN] = {{NULL}};
    for (int s = 1; s < 3; s++) {
        alt[s][1] = uni(S(4), 1110 + s);
        alt[s][2] = uni(S(1), 1120 + s);
    }
    tc_check_wave(&tc, 3, wave_rows, alt);

    tc_new(&tc, CV_OP_CLIP, 13, "wave clip");
    tc_in(&tc, uni(S(6, 10), 1130));
    tc_const(&tc, scalar_f(-0.5f), true);
    tc_const(&tc, scalar_f(0.5f), true);
    tc_node(&tc, 1);
    memset(alt, 0, sizeof alt);
    alt[1][1] = scalar_f(-0.1f);
    alt[1][2] = scalar_f(0.2f);
    alt[2][1] = scalar_f(-0.9f);
    alt[2][2] = scalar_f(0.0f);
    tc_check_wave(&tc, 3, wave_rows, alt);

    tc_new(&tc, CV_OP_WHERE, 16, "wave where");
    tc_in(&tc, bools(S(6, 4), 1140));
    tc_const(&tc, uni(S(4), 1141), true);
    tc_in(&tc, uni(S(6, 4), 1142));
    tc_node(&tc, 1);
    memset(alt, 0, sizeof alt);
    for (int s = 1; s < 3; s++) alt[s][1] = rnd(S(4), 1150 + s, 1.0f, 5.0f);
    tc_check_wave(&tc, 3, wave_rows, alt);
}

/* LayerNormalization, Gather from a tenant's embedding table, Pad with a
 * tenant's fill value. */
static void test_wave_other(void **state)
{
    cv_tensor_t *alt[MAX_SLICES][MAX_IN] = {{NULL}};
    tcase_t tc;
    tc_new(&tc, CV_OP_LAYER_NORMALIZATION, 17, "wave layer norm");
    tc_in(&tc, uni(S(6, 4, 8), 1200));
    tc_const(&tc, rnd(S(8), 1201, 0.5f, 1.0f), true);
    tc_const(&tc, uni(S(8), 1202), true);
    tc_node(&tc, 1);
    tc_int(&tc, "axis", -1);
    tc_loose(&tc);
    for (int s = 1; s < 3; s++) {
        alt[s][1] = rnd(S(8), 1210 + s, 0.5f, 1.0f);
        alt[s][2] = uni(S(8), 1220 + s);
    }
    tc_check_wave(&tc, 3, wave_rows, alt);

    tc_new(&tc, CV_OP_GATHER, 13, "wave gather (embedding)");
    tc_const(&tc, uni(S(10, 4), 1230), true);
    tc_in(&tc, ints_of(CV_DTYPE_INT64, S(6, 3), 1231, 4));
    tc_node(&tc, 1);
    memset(alt, 0, sizeof alt);
    for (int s = 1; s < 3; s++) alt[s][0] = uni(S(10, 4), 1240 + s);
    tc_exact(&tc);
    tc_check_wave(&tc, 3, wave_rows, alt);

    tc_new(&tc, CV_OP_PAD, 19, "wave pad");
    tc_in(&tc, uni(S(6, 3), 1250));
    tc_const(&tc, i64s(S(4), (int64_t[]){0, 1, 0, 2}), false);
    tc_const(&tc, scalar_f(2.0f), true);
    tc_node(&tc, 1);
    memset(alt, 0, sizeof alt);
    alt[1][2] = scalar_f(-3.0f);
    alt[2][2] = scalar_f(7.0f);
    tc_exact(&tc);
    tc_check_wave(&tc, 3, wave_rows, alt);

}

/* More tenants than one launch's slice table holds: the per-slice path,
 * one launch per tenant. */
static void test_wave_many(void **state)
{
    enum { N = 66 };
    int64_t rows[N];
    for (int s = 0; s < N; s++) rows[s] = 1 + s % 2;
    cv_tensor_t *(*alt)[MAX_IN] = cv_calloc(MAX_SLICES, sizeof *alt);
    assert_non_null(alt);
    tcase_t tc;
    tc_new(&tc, CV_OP_ADD, 17, "wave of 66 tenants");
    tc_in(&tc, uni(S(99, 3, 5), 1300));
    tc_const(&tc, uni(S(3, 1), 1301), true);
    tc_node(&tc, 1);
    for (int s = 1; s < N; s++) alt[s][1] = uni(S(3, 1), 1310 + s);
    tc_exact(&tc);
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
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        printf("skipped: no CUDA GPU (%s)\n",
               e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found none");
        return 77;
    }
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

int main(void)
{
    printf("skipped: this build has no CUDA backend (nvcc was not found)\n");
    return 77;
}

#endif
