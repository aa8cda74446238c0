/*
 * test_backend_ops.c: every operator of CV_OP_LIST run through a backend
 * and compared with its CPU kernel, in the spirit of ggml's
 * tests/test-backend-ops.c.
 *
 * A case is a one-node graph (nodecase.h): run-time inputs of chosen shapes
 * and dtypes, constants (some of them weights), attributes; several cases
 * per op where it has modes. The reference is the op's CPU kernel
 * (cv_op_def(op)->cpu) called directly on host tensors. The result under
 * test comes through the backend interface: the graph is planned
 * (cv_plan_build) and run by the executor (cv_exec_wave), which hands the
 * node to the backend's step_run; a node the planner folds (Constant,
 * Shape, nodes of constants alone) is also handed to step_run directly in
 * a one-step plan, so that every op reaches the backend.
 *
 * Where every run-time input has the same dim 0 the graph gets a batch
 * axis, and where the plan can stack tenants the case runs again as one
 * wave of 3 slices (1, 2 and 3 rows, other rows of data in each) of 3
 * tenants whose floating-point weights differ (cv_test_graph_vary_weights):
 * each slice must match the CPU kernel on its rows with its own tenant's
 * weights, and the same backend running that slice alone; where a case has
 * such weights, slice 1 computed with tenant 0's weights must differ, so
 * that a mix-up of weights cannot pass. Results are held to the op's
 * tolerance (tolerance_of); integers and booleans bit for bit.
 *
 * Built twice from this file (tests/CMakeLists.txt): test_backend_ops
 * (label unit) runs the CPU backend; test_gpu_backend_ops (label gpu,
 * CV_TEST_BACKEND_CUDA) runs the CUDA backend and exits 77 (skipped), with
 * the reason, where there is no GPU. Every op of CV_OP_LIST needs a case:
 * test_every_op_has_a_case fails for an op without one, so a new op comes
 * with its cases.
 *
 * Not here: reduced precisions (test_gpu_wave), thread counts
 * (test_threads), refusals of bad input (test_cpu_*), the super-kernel cache
 * (test_gpu_graph).
 */
#include "nodecase.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_IN CV_TEST_NODE_MAX_IN
#define MAX_OUT CV_TEST_NODE_MAX_OUT
#define WAVE_SLICES 3

/* ---- the backend under test ---------------------------------------------------- */

#ifdef CV_TEST_BACKEND_CUDA
#define BACKEND_NAME "CUDA"
#else
#define BACKEND_NAME "CPU"
#endif

static cv_backend_t *backend;
static cv_executor_t *executor;
static cv_cpu_ctx_t fold_ctx = {.threads = 1}; /* plan-time folding */

static cv_status backend_create(cv_backend_t **out, cv_err_t *err)
{
#if defined(CV_TEST_BACKEND_CUDA) && defined(CARAVEL_WITH_CUDA)
    return cv_backend_cuda_create(0, out, err);
#elif defined(CV_TEST_BACKEND_CUDA)
    return cv_errorf(err, CV_STATUS_UNAVAILABLE, "this build has no CUDA backend");
#else
    return cv_backend_cpu_create(2, out, err);
#endif
}

static int setup(void **state)
{
    cv_err_t err;
    cv_status st = backend_create(&backend, &err);
    if (st != CV_STATUS_OK) {
        fprintf(stderr, "%s backend: %s\n", BACKEND_NAME, err.msg);
        return -1;
    }
    return cv_exec_create(backend, &executor, &err) == CV_STATUS_OK ? 0 : -1;
}

static int teardown(void **state)
{
    cv_exec_destroy(executor);
    if (backend) backend->iface->destroy(backend);
    cv_cpu_ctx_release(&fold_ctx);
    return 0;
}

/* ---- tolerances ------------------------------------------------------------------ */

typedef struct tolerance {
    double rel, abs;
} tolerance_t;

/* What the backend's result may differ by from the CPU kernel's, per op:
 * nothing where values are only moved, selected, compared or rounded once
 * the same way; sums in another order (GEMM-like ops) and transcendental
 * functions get an absolute term as well as a relative one. */
static tolerance_t tolerance_of(cv_op_t op)
{
    switch (op) {
    case CV_OP_RELU: case CV_OP_NEG: case CV_OP_ABS: case CV_OP_CLIP:
    case CV_OP_ADD: case CV_OP_SUB: case CV_OP_MUL: case CV_OP_MIN: case CV_OP_MAX:
    case CV_OP_PRELU: case CV_OP_SUM: case CV_OP_MEAN: case CV_OP_EQUAL: case CV_OP_WHERE:
    case CV_OP_CAST: case CV_OP_MAX_POOL: case CV_OP_GLOBAL_MAX_POOL:
    case CV_OP_RESHAPE: case CV_OP_FLATTEN: case CV_OP_TRANSPOSE: case CV_OP_CONCAT:
    case CV_OP_SPLIT: case CV_OP_SLICE: case CV_OP_SQUEEZE: case CV_OP_UNSQUEEZE:
    case CV_OP_GATHER: case CV_OP_SHAPE: case CV_OP_CONSTANT: case CV_OP_CONSTANT_OF_SHAPE:
    case CV_OP_IDENTITY: case CV_OP_DROPOUT: case CV_OP_EXPAND: case CV_OP_TILE:
    case CV_OP_RANGE: case CV_OP_PAD:
        return (tolerance_t){0, 0};
    case CV_OP_CONV: case CV_OP_GEMM: case CV_OP_MATMUL:
    case CV_OP_LEAKY_RELU: case CV_OP_ELU: case CV_OP_SELU: case CV_OP_SIGMOID:
    case CV_OP_HARD_SIGMOID: case CV_OP_HARD_SWISH: case CV_OP_TANH: case CV_OP_ERF:
    case CV_OP_GELU: case CV_OP_SOFTPLUS: case CV_OP_SQRT: case CV_OP_EXP: case CV_OP_LOG:
    case CV_OP_POW: case CV_OP_SOFTMAX: case CV_OP_LOG_SOFTMAX:
    case CV_OP_LAYER_NORMALIZATION: case CV_OP_LRN: case CV_OP_REDUCE_MEAN:
    case CV_OP_REDUCE_SUM:
        return (tolerance_t){1e-5, 1e-5};
    default: /* Div, BatchNormalization, the average pools */
        return (tolerance_t){1e-5, 1e-6};
    }
}

/* ---- bookkeeping ------------------------------------------------------------------ */

/* While counting, cases are built and counted (cases_of), not run; runs
 * are counted apart (ran_of), as waves and as direct step_run calls. */
static bool counting;
static int cases_of[CV_OP_COUNT], ran_of[CV_OP_COUNT], waves_of[CV_OP_COUNT], direct_of[CV_OP_COUNT];

/* A case whose result need not show a change of weights (Equal against a
 * weight: rows that equal neither tenant's values give false for both):
 * the check that another tenant's weights give another result is left out. */
#define SAME_RESULT_OK 1u
/* A case kept without a batch axis even where its inputs share a dim 0
 * (shape arithmetic on constants and small inputs, which the planner
 * folds for their values). */
#define NO_BATCH_AXIS 2u
/* A case whose wave would disagree with its slices run alone (the case
 * says why): the planner must refuse to stack it, and the test fails if it
 * stacks it. */
#define NOT_STACKABLE 4u

/* ---- host data ---------------------------------------------------------------------- */

/* The FP32 tensor t in another floating-point dtype (t is taken). */
static cv_tensor_t *as_dtype(cv_tensor_t *t, cv_dtype_t dtype)
{
    cv_tensor_t *c = cv_test_tensor(dtype, t->shape, NULL);
    for (int64_t i = 0; i < cv_shape_numel(&t->shape); i++) cv_tensor_set_f64(c, i, cv_tensor_get_f64(t, i));
    cv_tensor_destroy(t);
    return c;
}

/* Dim 0 of every run-time input, when they share one (0 otherwise): such
 * a case gets a batch axis and may run as a wave. */
static int64_t batch_rows(const cv_test_node_t *nc)
{
    int64_t rows = 0;
    for (int i = 0; i < nc->nin; i++) {
        const cv_tensor_t *t = nc->runtime[i];
        if (!t) continue;
        if (t->shape.ndim == 0 || t->shape.dims[0] < 1 || (rows && t->shape.dims[0] != rows)) return 0;
        rows = t->shape.dims[0];
    }
    return rows;
}

/* The run-time inputs of the case, in graph-input order. */
static int runtime_inputs(const cv_test_node_t *nc, cv_tensor_t *out)
{
    int n = 0;
    for (int i = 0; i < nc->nin; i++)
        if (nc->runtime[i]) out[n++] = *nc->runtime[i];
    return n;
}

/* A wave's input made from the case's input x of N rows: slice s holds
 * rows[s] rows, its row j being row (s + j) % N of x, so that slices see
 * different data. */
static cv_tensor_t stack_rows(const cv_tensor_t *x, const int64_t *rows, int nslices)
{
    int64_t total = 0, n = x->shape.dims[0];
    for (int s = 0; s < nslices; s++) total += rows[s];
    cv_shape_t shape = x->shape;
    shape.dims[0] = total;
    cv_tensor_t t;
    assert_int_equal(cv_tensor_alloc(&t, x->dtype, &shape), CV_STATUS_OK);
    size_t row_bytes = cv_tensor_nbytes(x) / (size_t)n;
    char *dst = t.data;
    for (int s = 0; s < nslices; s++)
        for (int64_t j = 0; j < rows[s]; j++, dst += row_bytes)
            memcpy(dst, (const char *)x->data + row_bytes * (size_t)((s + j) % n), row_bytes);
    return t;
}

/* max |a - b| > 1e-4 * max(1, max |b|) over the floats of two tensors. */
static bool differs(const cv_tensor_t *a, const cv_tensor_t *b)
{
    double diff = 0, scale = 1;
    for (int64_t i = 0; i < cv_shape_numel(&b->shape); i++) {
        diff = fmax(diff, fabs(cv_tensor_get_f64(a, i) - cv_tensor_get_f64(b, i)));
        scale = fmax(scale, fabs(cv_tensor_get_f64(b, i)));
    }
    return diff > 1e-4 * scale;
}

static bool has_float_weight(const cv_test_node_t *nc)
{
    for (int i = 0; i < nc->nin; i++) {
        if (!cv_test_node_is_weight(nc, i)) continue;
        cv_dtype_t d = nc->g->values[nc->values[i]].dtype;
        if (d == CV_DTYPE_FP32 || d == CV_DTYPE_FP64) return true;
    }
    return false;
}

static void free_tensors(cv_tensor_t *t, int n)
{
    for (int i = 0; i < n; i++) cv_tensor_free(&t[i]);
}

/* ---- the two sides ---------------------------------------------------------------- */

/* The reference: the op's CPU kernel on run-time inputs `rt` (graph-input
 * order) with the constants of g, a tenant of the case's family; the
 * outputs are allocated. */
static void reference(const cv_test_node_t *nc, const cv_graph_t *g, const cv_tensor_t *rt, cv_tensor_t *outs)
{
    cv_test_node_t tenant = *nc;
    tenant.g = (cv_graph_t *)g;
    const cv_tensor_t *ins[MAX_IN];
    int r = 0;
    for (int i = 0; i < nc->nin; i++) {
        int v = nc->values[i];
        ins[i] = v < 0 ? NULL : nc->runtime[i] ? &rt[r++] : g->values[v].constant;
    }
    cv_test_node_infer(&tenant, ins, outs);
    cv_test_node_cpu(&tenant, ins, outs);
}

/* The plan of g for these run-time inputs (whose values a graph without a
 * batch axis may be planned for). */
static cv_plan_t *plan_for(const cv_test_node_t *nc, const cv_graph_t *g, const cv_tensor_t *rt, int nrt)
{
    cv_shape_t shapes[MAX_IN];
    for (int i = 0; i < nrt; i++) shapes[i] = rt[i].shape;
    cv_plan_t *plan;
    cv_err_t err;
    if (cv_plan_build(g, shapes, rt, &fold_ctx, &plan, &err) != CV_STATUS_OK)
        fail_msg("%s: plan: %s", nc->label, err.msg);
    return plan;
}

#define WHY_LEN 1024

/* Each output against the reference within the op's tolerance; a
 * difference fails the test. */
static void compare_outputs(const cv_test_node_t *nc, const char *how, const cv_tensor_t *got,
                            const cv_tensor_t *ref)
{
    tolerance_t tol = tolerance_of(nc->op);
    for (int o = 0; o < nc->nout; o++) {
        char what[256], why[WHY_LEN];
        snprintf(what, sizeof what, "%s '%s' on the %s backend, %s, output %d", cv_op_name(nc->op), nc->label,
                 BACKEND_NAME, how, o);
        if (!cv_test_agree(what, &got[o], &ref[o], tol.rel, tol.abs, why, sizeof why)) fail_msg("%s", why);
    }
}

/* The node handed to the backend's step_run directly, in a one-step plan of
 * one slice (the executor never does for a node the planner folds): inputs
 * uploaded through the interface, outputs downloaded, each against `ref`. */
static void run_direct(const cv_test_node_t *nc, const cv_tensor_t *ref)
{
    const cv_backend_i *be = backend->iface;
    cv_err_t err;
    const cv_tensor_t *host[MAX_IN];
    cv_test_node_host_inputs(nc, host);
    void **constants = cv_calloc((size_t)nc->g->nvalues + 1, sizeof(void *));
    assert_non_null(constants);
    cv_tensor_t din[MAX_IN], dout[MAX_OUT], got[MAX_OUT];
    const cv_tensor_t *dp[MAX_IN];
    cv_tensor_t *dop[MAX_OUT];
    bool batched[MAX_IN] = {false}, out_batched[MAX_OUT] = {false};
    cv_plan_step_t step = {.node = nc->node, .weighted = false};
    for (int i = 0; i < nc->nin; i++) {
        dp[i] = NULL;
        if (!host[i]) continue;
        din[i] = *host[i];
        assert_int_equal(be->alloc(backend, cv_tensor_nbytes(host[i]) + 1, &din[i].data, &err), CV_STATUS_OK);
        assert_int_equal(be->upload(backend, din[i].data, host[i]->data, cv_tensor_nbytes(host[i]), &err),
                         CV_STATUS_OK);
        dp[i] = &din[i];
        if (cv_test_node_is_const(nc, i)) constants[nc->values[i]] = din[i].data;
        if (cv_test_node_is_weight(nc, i)) step.weighted = true;
    }
    for (int o = 0; o < nc->nout; o++) {
        dout[o] = ref[o];
        assert_int_equal(be->alloc(backend, cv_tensor_nbytes(&ref[o]) + 1, &dout[o].data, &err), CV_STATUS_OK);
        dop[o] = &dout[o];
    }
    cv_plan_t plan = {.graph = nc->g, .rows = 1, .steps = &step, .nsteps = 1};
    cv_wave_slice_t slice = {.row0 = 0, .rows = 1, .constants = constants};
    cv_step_run_t run = {.graph = nc->g, .plan = &plan, .step = 0, .node = &nc->g->nodes[nc->node],
                         .inputs = dp, .ninputs = nc->nin, .outputs = dop, .noutputs = nc->nout,
                         .batched = batched, .out_batched = out_batched, .slices = &slice, .nslices = 1,
                         .precision = CV_PRECISION_FP32};
    cv_status st = be->step_run(backend, &run, &err);
    if (st == CV_STATUS_OK && be->synchronize) st = be->synchronize(backend, &err);
    if (st != CV_STATUS_OK) fail_msg("%s: step_run: %s: %s", nc->label, cv_status_str(st), err.msg);
    for (int o = 0; o < nc->nout; o++) {
        assert_int_equal(cv_tensor_alloc(&got[o], ref[o].dtype, &ref[o].shape), CV_STATUS_OK);
        assert_int_equal(be->download(backend, got[o].data, dout[o].data, cv_tensor_nbytes(&got[o]), &err),
                         CV_STATUS_OK);
    }
    if (be->synchronize) assert_int_equal(be->synchronize(backend, &err), CV_STATUS_OK);
    compare_outputs(nc, "step_run called directly", got, ref);
    free_tensors(got, nc->nout);
    for (int o = 0; o < nc->nout; o++) be->free(backend, dout[o].data);
    for (int i = 0; i < nc->nin; i++)
        if (dp[i]) be->free(backend, din[i].data);
    cv_free(constants);
}

/* What the plan of one slice says of the case. */
typedef struct solo_plan {
    bool folded;    /* the planner computed the node: no step */
    bool stackable; /* a wave may hold several slices; else why not */
    char why[CV_ERR_LEN + 128];
} solo_plan_t;

/* One slice of tenant 0 on the case's own inputs, through the executor. */
static solo_plan_t run_solo(const cv_test_node_t *nc)
{
    cv_tensor_t rt[MAX_IN], ref[MAX_OUT], got[MAX_OUT];
    int nrt = runtime_inputs(nc, rt);
    reference(nc, nc->g, rt, ref);
    cv_plan_t *plan = plan_for(nc, nc->g, rt, nrt);
    void **table = cv_test_tenant_upload(backend, nc->g, CV_PRECISION_FP32);
    int64_t rows = plan->rows;
    cv_test_wave_run(executor, plan, &table, &rows, 1, CV_PRECISION_FP32, rt, got);
    compare_outputs(nc, "one slice through the executor", got, ref);
    solo_plan_t said = {.folded = plan->nsteps == 0, .stackable = plan->stackable};
    snprintf(said.why, sizeof said.why, "%s", plan->not_stackable_why);
    if (said.folded) run_direct(nc, ref);
    free_tensors(got, nc->nout);
    free_tensors(ref, nc->nout);
    cv_test_tenant_release(backend, nc->g, table);
    cv_plan_destroy(plan);
    return said;
}

/* The case as one wave of WAVE_SLICES tenants (see the top of the file),
 * for a case whose plan can stack them. */
static void run_wave(const cv_test_node_t *nc, unsigned flags)
{
    static const int64_t rows[WAVE_SLICES] = {1, 2, 3};
    cv_tensor_t base[MAX_IN], stacked[MAX_IN], out[MAX_OUT];
    int nrt = runtime_inputs(nc, base);
    int64_t total = 0;
    for (int s = 0; s < WAVE_SLICES; s++) total += rows[s];
    for (int i = 0; i < nrt; i++) stacked[i] = stack_rows(&base[i], rows, WAVE_SLICES);
    cv_graph_t *tenants[WAVE_SLICES] = {nc->g};
    void **tables[WAVE_SLICES];
    for (int t = 1; t < WAVE_SLICES; t++) {
        tenants[t] = cv_test_graph_clone(nc->g);
        cv_test_graph_vary_weights(tenants[t], t);
    }
    for (int t = 0; t < WAVE_SLICES; t++) tables[t] = cv_test_tenant_upload(backend, tenants[t], CV_PRECISION_FP32);
    cv_plan_t *plan = plan_for(nc, nc->g, stacked, nrt);
    if (!plan->stackable)
        fail_msg("%s: stackable at %lld rows, not at %lld: %s", nc->label, (long long)base[0].shape.dims[0],
                 (long long)total, plan->not_stackable_why);
    cv_test_wave_run(executor, plan, tables, rows, WAVE_SLICES, CV_PRECISION_FP32, stacked, out);

    int64_t row0 = 0;
    for (int s = 0; s < WAVE_SLICES; s++) {
        cv_tensor_t mine[MAX_IN], ref[MAX_OUT], alone[MAX_OUT], got[MAX_OUT];
        for (int i = 0; i < nrt; i++) mine[i] = cv_test_rows_copy(&stacked[i], row0, rows[s]);
        for (int o = 0; o < nc->nout; o++) {
            bool batched = plan->values[nc->g->outputs[o]].batched;
            got[o] = batched ? cv_row_view(&out[o], row0, rows[s], total) : out[o];
        }
        char how[96];
        snprintf(how, sizeof how, "slice %d of a wave of %d tenants", s, WAVE_SLICES);
        reference(nc, tenants[s], mine, ref);
        compare_outputs(nc, how, got, ref);
        /* The same slice alone on this backend. */
        cv_plan_t *solo = plan_for(nc, nc->g, mine, nrt);
        cv_test_wave_run(executor, solo, &tables[s], &rows[s], 1, CV_PRECISION_FP32, mine, alone);
        snprintf(how, sizeof how, "slice %d alone against the same slice in a wave", s);
        compare_outputs(nc, how, got, alone);
        cv_plan_destroy(solo);
        free_tensors(alone, nc->nout);
        /* Slice 1 with tenant 0's weights must come out otherwise. */
        if (s == 1 && has_float_weight(nc) && !(flags & SAME_RESULT_OK)) {
            cv_tensor_t other[MAX_OUT];
            reference(nc, tenants[0], mine, other);
            if (!differs(&got[0], &other[0]))
                fail_msg("%s: slice 1 gives what tenant 0's weights give: the wave's weights are not checked",
                         nc->label);
            free_tensors(other, nc->nout);
        }
        free_tensors(ref, nc->nout);
        free_tensors(mine, nrt);
        row0 += rows[s];
    }
    free_tensors(out, nc->nout);
    cv_plan_destroy(plan);
    for (int t = 0; t < WAVE_SLICES; t++) cv_test_tenant_release(backend, tenants[t], tables[t]);
    for (int t = 1; t < WAVE_SLICES; t++) cv_graph_destroy(tenants[t]);
    free_tensors(stacked, nrt);
}

/* Counts the case, or runs it (one slice, then a wave where it can be one)
 * and prints what ran; frees the case. */
static void check(cv_test_node_t *nc, unsigned flags)
{
    if (counting) {
        cases_of[nc->op]++;
        cv_test_node_free(nc);
        return;
    }
    ran_of[nc->op]++;
    /* Every node output is a graph output, so that each is compared. */
    for (int o = 0; o < nc->nout; o++) cv_test_graph_output(nc->g, nc->g->nodes[nc->node].outputs[o]);
    int64_t rows = flags & NO_BATCH_AXIS ? 0 : batch_rows(nc);
    if (rows > 0) {
        nc->g->batched = true;
        for (int i = 0; i < nc->g->ninputs; i++) nc->g->values[nc->g->inputs[i]].shape.dims[0] = -1;
    }
    char note[CV_ERR_LEN + 160] = "no batch axis: one slice";
    solo_plan_t said = run_solo(nc);
    if (said.folded) {
        direct_of[nc->op]++;
        snprintf(note, sizeof note, "folded by the planner: step_run called directly");
    } else if (rows > 0 && said.stackable) {
        if (flags & NOT_STACKABLE) fail_msg("%s: the planner stacks a case whose rows mix", nc->label);
        run_wave(nc, flags);
        waves_of[nc->op]++;
        snprintf(note, sizeof note, "one slice, and a wave of %d tenants", WAVE_SLICES);
    } else if (rows > 0) {
        snprintf(note, sizeof note, "one slice; no wave: %s", said.why);
    }
    printf("  %-20s %-44s %s\n", cv_op_name(nc->op), nc->label, note);
    fflush(stdout); /* in order with cmocka's messages on stderr */
    cv_test_node_free(nc);
}

/* ---- case builders ------------------------------------------------------------------ */

/* A case of one run-time input x and no attributes yet. */
static void unary(cv_test_node_t *nc, cv_op_t op, int opset, const char *label, cv_tensor_t *x)
{
    cv_test_node_new(nc, op, opset, label);
    cv_test_node_input(nc, x);
    cv_test_node_add(nc, 1);
}

/* ---- nn ops ----------------------------------------------------------------------------- */

typedef struct conv_case {
    const char *label;
    cv_shape_t x, w;
    bool bias, w_at_run_time;
    int64_t group;
    int nd;
    int64_t strides[3], dilations[3], pads[6];
    bool set_pads;
    const char *auto_pad;
    cv_activation_t act;
    float lo, hi;
    bool residual; /* a residual Add fused in (node->fused_residual): input 3 */
} conv_case_t;

/* The output shape of a case with explicit pads (or none) and dilation 1:
 * the shape its residual input must have. */
static cv_shape_t conv_case_out_shape(const conv_case_t *c)
{
    cv_shape_t y = c->x;
    y.dims[1] = c->w.dims[0];
    for (int i = 0; i < c->nd; i++) {
        int64_t pads = c->set_pads ? c->pads[i] + c->pads[c->nd + i] : 0;
        y.dims[2 + i] = (c->x.dims[2 + i] + pads - c->w.dims[2 + i]) / c->strides[i] + 1;
    }
    return y;
}

static void conv_cases(void)
{
    static const conv_case_t cases[] = {
        {"3x3 pad 1 bias", CV_TEST_SHAPE(2, 3, 7, 7), CV_TEST_SHAPE(4, 3, 3, 3), true, false, 1, 2,
         {1, 1}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_NONE, 0, 0, false},
        {"grouped 2, stride 2", CV_TEST_SHAPE(2, 4, 9, 9), CV_TEST_SHAPE(6, 2, 3, 3), true, false, 2, 2,
         {2, 2}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_NONE, 0, 0, false},
        {"depthwise 3x3 pad 1", CV_TEST_SHAPE(2, 8, 6, 6), CV_TEST_SHAPE(8, 1, 3, 3), true, false, 8, 2,
         {1, 1}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_NONE, 0, 0, false},
        {"depthwise x2, stride 2, no bias", CV_TEST_SHAPE(2, 4, 7, 7), CV_TEST_SHAPE(8, 1, 3, 3), false, false,
         4, 2, {2, 2}, {1, 1}, {0, 0, 0, 0}, true, NULL, CV_ACTIVATION_NONE, 0, 0, false},
        {"1x1 pointwise", CV_TEST_SHAPE(3, 16, 4, 4), CV_TEST_SHAPE(8, 16, 1, 1), true, false, 1, 2, {1, 1},
         {1, 1}, {0}, false, NULL, CV_ACTIVATION_NONE, 0, 0, false},
        {"dilated, strided, asymmetric pads", CV_TEST_SHAPE(2, 3, 9, 8), CV_TEST_SHAPE(5, 3, 3, 2), false,
         false, 1, 2, {2, 1}, {2, 2}, {0, 1, 2, 1}, true, NULL, CV_ACTIVATION_NONE, 0, 0, false},
        {"SAME_UPPER stride 2", CV_TEST_SHAPE(2, 3, 8, 7), CV_TEST_SHAPE(4, 3, 3, 3), true, false, 1, 2,
         {2, 2}, {1, 1}, {0}, false, "SAME_UPPER", CV_ACTIVATION_NONE, 0, 0, false},
        {"SAME_LOWER even kernel", CV_TEST_SHAPE(2, 2, 5, 6), CV_TEST_SHAPE(3, 2, 2, 2), true, false, 1, 2,
         {1, 1}, {1, 1}, {0}, false, "SAME_LOWER", CV_ACTIVATION_NONE, 0, 0, false},
        {"1-D", CV_TEST_SHAPE(2, 4, 17), CV_TEST_SHAPE(6, 4, 5), true, false, 1, 1, {2}, {1}, {2, 1}, true,
         NULL, CV_ACTIVATION_NONE, 0, 0, false},
        {"3-D", CV_TEST_SHAPE(2, 2, 4, 5, 5), CV_TEST_SHAPE(3, 2, 2, 3, 3), true, false, 1, 3, {1, 1, 1},
         {1, 1, 1}, {0, 1, 1, 1, 1, 1}, true, NULL, CV_ACTIVATION_NONE, 0, 0, false},
        {"fused Relu", CV_TEST_SHAPE(2, 3, 6, 6), CV_TEST_SHAPE(4, 3, 3, 3), true, false, 1, 2, {1, 1},
         {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_RELU, 0, 0, false},
        {"fused Clip, grouped", CV_TEST_SHAPE(2, 4, 6, 6), CV_TEST_SHAPE(4, 2, 3, 3), true, false, 2, 2,
         {1, 1}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_CLIP, -0.2f, 0.3f, false},
        {"weights fed at run time", CV_TEST_SHAPE(2, 3, 5, 5), CV_TEST_SHAPE(4, 3, 3, 3), false, true, 1, 2,
         {1, 1}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_NONE, 0, 0, false},
        /* The residual Add folded in at load (src/plan/fuse.c), on each
         * path: the GEMM epilogue (1x1 direct, im2col), the depthwise kernel. */
        {"1x1 + residual + Relu", CV_TEST_SHAPE(3, 16, 4, 4), CV_TEST_SHAPE(16, 16, 1, 1), true, false, 1, 2,
         {1, 1}, {1, 1}, {0}, false, NULL, CV_ACTIVATION_RELU, 0, 0, true},
        {"3x3 + residual, no bias", CV_TEST_SHAPE(2, 4, 6, 6), CV_TEST_SHAPE(4, 4, 3, 3), false, false, 1, 2,
         {1, 1}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_NONE, 0, 0, true},
        {"stride 2 + residual + Clip", CV_TEST_SHAPE(2, 3, 8, 8), CV_TEST_SHAPE(5, 3, 3, 3), true, false, 1, 2,
         {2, 2}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_CLIP, -0.2f, 0.3f, true},
        {"depthwise + residual + Relu", CV_TEST_SHAPE(2, 8, 6, 6), CV_TEST_SHAPE(8, 1, 3, 3), true, false, 8,
         2, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_RELU, 0, 0, true},
        /* Depthwise geometry: a tall plane with a residual, strides and
         * dilations with asymmetric pads, a plane 5000 wide. */
        {"depthwise 60x20 in 3 tiles + residual + Clip", CV_TEST_SHAPE(2, 3, 60, 20), CV_TEST_SHAPE(3, 1, 3, 3),
         true, false, 3, 2, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_CLIP, -0.2f, 0.3f, true},
        {"depthwise 5x5 stride 2 dilated, asymmetric pads", CV_TEST_SHAPE(2, 4, 45, 33),
         CV_TEST_SHAPE(4, 1, 5, 5), true, false, 4, 2, {2, 1}, {2, 1}, {1, 3, 2, 0}, true, NULL,
         CV_ACTIVATION_NONE, 0, 0, false},
        /* 1x1 on CUDA: the fused pointwise kernel up to K = 160 (tiles
         * of 64 x 64, slabs of 16 deep, here all partial), cuBLAS and the
         * epilogue pass above. */
        {"1x1 K 20, partial tiles + residual + Clip", CV_TEST_SHAPE(2, 20, 5, 13), CV_TEST_SHAPE(70, 20, 1, 1), true,
         false, 1, 2, {1, 1}, {1, 1}, {0}, false, NULL, CV_ACTIVATION_CLIP, -0.2f, 0.3f, true},
        {"1x1 K 200, the cuBLAS path + residual", CV_TEST_SHAPE(2, 200, 5, 13), CV_TEST_SHAPE(70, 200, 1, 1), true,
         false, 1, 2, {1, 1}, {1, 1}, {0}, false, NULL, CV_ACTIVATION_RELU, 0, 0, true},
        /* CUDA cuts K into parts when a wave's GEMMs have few tiles
         * (conv_split): 1x1 K 256 in 2, 3x3 K 576 in 4, grouped too. */
        {"1x1 K 256, K split + bias", CV_TEST_SHAPE(2, 256, 3, 3), CV_TEST_SHAPE(8, 256, 1, 1), true, false, 1, 2,
         {1, 1}, {1, 1}, {0}, false, NULL, CV_ACTIVATION_NONE, 0, 0, false},
        {"3x3 K 576, K split + residual + Relu", CV_TEST_SHAPE(2, 64, 5, 5), CV_TEST_SHAPE(6, 64, 3, 3), true, false,
         1, 2, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_RELU, 0, 0, true},
        {"3x3 grouped 2, K 576 split", CV_TEST_SHAPE(1, 128, 4, 4), CV_TEST_SHAPE(4, 64, 3, 3), true, false, 2, 2,
         {1, 1}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_NONE, 0, 0, false},
        {"depthwise, a plane 5000 wide", CV_TEST_SHAPE(1, 2, 3, 5000), CV_TEST_SHAPE(2, 1, 3, 3), true, false, 2,
         2, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, NULL, CV_ACTIVATION_RELU, 0, 0, false},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        const conv_case_t *c = &cases[k];
        cv_test_node_t nc;
        cv_test_node_new(&nc, CV_OP_CONV, 11, c->label);
        cv_test_node_input(&nc, cv_test_uniform(c->x, 10 + k));
        if (c->w_at_run_time) cv_test_node_input(&nc, cv_test_uniform(c->w, 30 + k));
        else cv_test_node_const(&nc, cv_test_uniform(c->w, 30 + k), true);
        if (c->bias) cv_test_node_const(&nc, cv_test_uniform(CV_TEST_SHAPE(c->w.dims[0]), 50 + k), true);
        if (c->residual) {
            if (!c->bias) cv_test_node_absent(&nc);
            cv_shape_t y = conv_case_out_shape(c);
            cv_test_node_input(&nc, cv_test_uniform(y, 70 + k));
        }
        cv_test_node_add(&nc, 1);
        if (c->group != 1) cv_test_node_int(&nc, "group", c->group);
        cv_test_node_ints(&nc, "strides", c->strides, c->nd);
        cv_test_node_ints(&nc, "dilations", c->dilations, c->nd);
        if (c->set_pads) cv_test_node_ints(&nc, "pads", c->pads, 2 * c->nd);
        if (c->auto_pad) cv_test_node_string(&nc, "auto_pad", c->auto_pad);
        cv_node_t *node = &nc.g->nodes[nc.node];
        node->activation = c->act;
        node->clip_min = c->lo;
        node->clip_max = c->hi;
        node->fused_residual = c->residual;
        check(&nc, 0);
    }
}

static void batch_norm_cases(void)
{
    static const cv_shape_t shapes[] = {CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(4, 6), CV_TEST_SHAPE(2, 3, 7),
                                        CV_TEST_SHAPE(2, 3, 16, 16)};
    static const char *labels[] = {"NCHW, statistics as weights", "NC", "NCL", "NCHW, statistics not weights"};
    for (size_t k = 0; k < CV_ARRAY_LEN(shapes); k++) {
        int64_t c = shapes[k].dims[1];
        bool weights = k != 3;
        cv_test_node_t nc;
        cv_test_node_new(&nc, CV_OP_BATCH_NORMALIZATION, 15, labels[k]);
        cv_test_node_input(&nc, cv_test_uniform(shapes[k], 70 + k));
        cv_test_node_const(&nc, cv_test_random(CV_TEST_SHAPE(c), 80 + k, 0.5f, 1.0f), weights);
        cv_test_node_const(&nc, cv_test_uniform(CV_TEST_SHAPE(c), 90 + k), weights);
        cv_test_node_const(&nc, cv_test_random(CV_TEST_SHAPE(c), 100 + k, 0.3f, 0.0f), weights);
        cv_test_node_const(&nc, cv_test_positive(CV_TEST_SHAPE(c), 110 + k), weights);
        cv_test_node_add(&nc, 1);
        cv_test_node_float(&nc, "epsilon", 1e-3f);
        check(&nc, 0);
    }
}

typedef struct gemm_case {
    const char *label;
    cv_shape_t a, b, c; /* c.ndim < 0: no C */
    bool b_at_run_time;
    int trans_a, trans_b;
    float alpha, beta;
} gemm_case_t;

static void gemm_cases(void)
{
    static const gemm_case_t cases[] = {
        {"transB, C[N]", CV_TEST_SHAPE(4, 33), CV_TEST_SHAPE(17, 33), CV_TEST_SHAPE(17), false, 0, 1, 1, 1},
        {"alpha, beta, C[1,N]", CV_TEST_SHAPE(5, 20), CV_TEST_SHAPE(20, 9), CV_TEST_SHAPE(1, 9), false, 0, 0,
         0.5f, 2.0f},
        {"transA and transB, C[M,1]", CV_TEST_SHAPE(6, 4), CV_TEST_SHAPE(7, 6), CV_TEST_SHAPE(4, 1), false, 1,
         1, 1, 1},
        {"no C", CV_TEST_SHAPE(3, 64), CV_TEST_SHAPE(64, 40), {.ndim = -1}, false, 0, 0, 1, 1},
        {"scalar C", CV_TEST_SHAPE(3, 5), CV_TEST_SHAPE(5, 4), CV_TEST_SCALAR, false, 0, 0, 1, 1},
        {"C[M,N]", CV_TEST_SHAPE(3, 5), CV_TEST_SHAPE(5, 4), CV_TEST_SHAPE(3, 4), false, 0, 0, 1, 0.5f},
        {"B fed at run time", CV_TEST_SHAPE(3, 5), CV_TEST_SHAPE(5, 4), CV_TEST_SHAPE(4), true, 0, 0, 1, 1},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        const gemm_case_t *c = &cases[k];
        cv_test_node_t nc;
        cv_test_node_new(&nc, CV_OP_GEMM, 13, c->label);
        cv_test_node_input(&nc, cv_test_uniform(c->a, 120 + k));
        if (c->b_at_run_time) cv_test_node_input(&nc, cv_test_uniform(c->b, 130 + k));
        else cv_test_node_const(&nc, cv_test_uniform(c->b, 130 + k), true);
        if (c->c.ndim >= 0) cv_test_node_const(&nc, cv_test_uniform(c->c, 140 + k), true);
        cv_test_node_add(&nc, 1);
        if (c->trans_a) cv_test_node_int(&nc, "transA", 1);
        if (c->trans_b) cv_test_node_int(&nc, "transB", 1);
        cv_test_node_float(&nc, "alpha", c->alpha);
        cv_test_node_float(&nc, "beta", c->beta);
        check(&nc, 0);
    }
}

static void matmul_cases(void)
{
    static const struct {
        const char *label;
        cv_shape_t a, b;
        bool b_at_run_time;
    } cases[] = {
        {"by a weight", CV_TEST_SHAPE(4, 24), CV_TEST_SHAPE(24, 10), false},
        {"batched A by a weight", CV_TEST_SHAPE(2, 5, 24), CV_TEST_SHAPE(24, 7), false},
        {"by a weight with batch dims", CV_TEST_SHAPE(2, 2, 3, 4), CV_TEST_SHAPE(2, 4, 5), false},
        {"by a weight vector", CV_TEST_SHAPE(3, 4), CV_TEST_SHAPE(4), false},
        {"vector by a weight", CV_TEST_SHAPE(4), CV_TEST_SHAPE(4, 3), false},
        {"two activations", CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(2, 3, 5, 6), true},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t nc;
        cv_test_node_new(&nc, CV_OP_MATMUL, 13, cases[k].label);
        cv_test_node_input(&nc, cv_test_uniform(cases[k].a, 150 + k));
        if (cases[k].b_at_run_time) cv_test_node_input(&nc, cv_test_uniform(cases[k].b, 160 + k));
        else cv_test_node_const(&nc, cv_test_uniform(cases[k].b, 160 + k), true);
        cv_test_node_add(&nc, 1);
        check(&nc, 0);
    }
}

typedef struct pool_case {
    cv_op_t op;
    const char *label;
    cv_shape_t x;
    int nd;
    int64_t k[2], s[2], d[2], pads[4];
    bool has_pads, has_dilations;
    int ceil, include_pad, nout;
    const char *auto_pad;
    unsigned flags;
} pool_case_t;

static void pool_cases(void)
{
    static const pool_case_t cases[] = {
        {CV_OP_MAX_POOL, "3x3 stride 2 pad 1", CV_TEST_SHAPE(2, 3, 9, 9), 2, {3, 3}, {2, 2}, {1, 1},
         {1, 1, 1, 1}, true, false, 0, 0, 1, NULL, 0},
        {CV_OP_MAX_POOL, "ceil_mode", CV_TEST_SHAPE(2, 2, 8, 8), 2, {3, 3}, {2, 2}, {1, 1}, {0}, false, false,
         1, 0, 1, NULL, 0},
        {CV_OP_MAX_POOL, "dilations 2", CV_TEST_SHAPE(2, 2, 10, 10), 2, {3, 3}, {1, 1}, {2, 2}, {0}, false,
         true, 0, 0, 1, NULL, 0},
        {CV_OP_MAX_POOL, "1-D", CV_TEST_SHAPE(2, 3, 11), 1, {3}, {2}, {1}, {1, 1}, true, false, 0, 0, 1, NULL, 0},
        {CV_OP_MAX_POOL, "SAME_UPPER", CV_TEST_SHAPE(2, 2, 7, 7), 2, {3, 3}, {2, 2}, {1, 1}, {0}, false, false,
         0, 0, 1, "SAME_UPPER", 0},
        /* Indices count positions in the whole input, the batch axis too:
         * a slice's would depend on the rows before it; the planner refuses
         * to stack it. */
        {CV_OP_MAX_POOL, "with Indices", CV_TEST_SHAPE(2, 3, 6, 6), 2, {2, 2}, {2, 2}, {1, 1}, {0}, false,
         false, 0, 0, 2, NULL, NOT_STACKABLE},
        {CV_OP_AVERAGE_POOL, "pads not counted", CV_TEST_SHAPE(2, 3, 9, 9), 2, {3, 3}, {2, 2}, {1, 1},
         {1, 1, 1, 1}, true, false, 0, 0, 1, NULL, 0},
        {CV_OP_AVERAGE_POOL, "pads counted", CV_TEST_SHAPE(2, 3, 9, 9), 2, {3, 3}, {2, 2}, {1, 1},
         {1, 1, 1, 1}, true, false, 0, 1, 1, NULL, 0},
        {CV_OP_AVERAGE_POOL, "ceil_mode, pads counted", CV_TEST_SHAPE(2, 2, 8, 8), 2, {3, 3}, {2, 2}, {1, 1},
         {1, 1, 1, 1}, true, false, 1, 1, 1, NULL, 0},
        {CV_OP_AVERAGE_POOL, "1-D", CV_TEST_SHAPE(2, 3, 12), 1, {4}, {3}, {1}, {2, 1}, true, false, 1, 1, 1,
         NULL, 0},
        {CV_OP_AVERAGE_POOL, "SAME_LOWER", CV_TEST_SHAPE(2, 2, 7, 7), 2, {2, 2}, {2, 2}, {1, 1}, {0}, false,
         false, 0, 0, 1, "SAME_LOWER", 0},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        const pool_case_t *c = &cases[k];
        cv_test_node_t nc;
        cv_test_node_new(&nc, c->op, 19, c->label);
        cv_test_node_input(&nc, cv_test_uniform(c->x, 170 + k));
        cv_test_node_add(&nc, c->nout);
        cv_test_node_ints(&nc, "kernel_shape", c->k, c->nd);
        cv_test_node_ints(&nc, "strides", c->s, c->nd);
        if (c->has_dilations) cv_test_node_ints(&nc, "dilations", c->d, c->nd);
        if (c->has_pads) cv_test_node_ints(&nc, "pads", c->pads, 2 * c->nd);
        if (c->auto_pad) cv_test_node_string(&nc, "auto_pad", c->auto_pad);
        if (c->ceil) cv_test_node_int(&nc, "ceil_mode", 1);
        if (c->include_pad) cv_test_node_int(&nc, "count_include_pad", 1);
        check(&nc, c->flags);
    }
    static const cv_shape_t globals[] = {CV_TEST_SHAPE(2, 3, 7, 7), CV_TEST_SHAPE(2, 3, 5),
                                         CV_TEST_SHAPE(2, 4, 1, 1)};
    static const char *global_labels[] = {"NCHW", "NCL", "1x1 planes"};
    for (size_t k = 0; k < CV_ARRAY_LEN(globals); k++) {
        for (int is_max = 0; is_max < 2; is_max++) {
            cv_test_node_t nc;
            unary(&nc, is_max ? CV_OP_GLOBAL_MAX_POOL : CV_OP_GLOBAL_AVERAGE_POOL, 13, global_labels[k],
                  cv_test_uniform(globals[k], 190 + k));
            check(&nc, 0);
        }
    }
}

static void normalization_cases(void)
{
    static const int64_t sizes[] = {3, 4};
    for (size_t k = 0; k < CV_ARRAY_LEN(sizes); k++) {
        cv_test_node_t nc;
        unary(&nc, CV_OP_LRN, 13, k ? "size 4" : "size 3", cv_test_random(CV_TEST_SHAPE(2, 5, 3, 3), 200 + k, 2, 0));
        cv_test_node_int(&nc, "size", sizes[k]);
        cv_test_node_float(&nc, "alpha", 0.01f);
        cv_test_node_float(&nc, "beta", 0.75f);
        cv_test_node_float(&nc, "bias", 1.5f);
        check(&nc, 0);
    }
    static const struct {
        const char *label;
        cv_shape_t x, scale, bias;
        int64_t axis;
        int nout;
    } ln[] = {
        {"last axis, scale and bias", CV_TEST_SHAPE(2, 3, 8), CV_TEST_SHAPE(8), CV_TEST_SHAPE(8), -1, 1},
        {"axis 1, mean and inverse std out", CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(3, 4, 5), {.ndim = -1}, 1, 3},
        {"scale broadcast over the normalized shape", CV_TEST_SHAPE(3, 4, 5), CV_TEST_SHAPE(1, 5),
         CV_TEST_SHAPE(5), 1, 1},
        {"axis 0", CV_TEST_SHAPE(3, 4, 5), CV_TEST_SHAPE(1), CV_TEST_SHAPE(1), 0, 3},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(ln); k++) {
        cv_test_node_t nc;
        cv_test_node_new(&nc, CV_OP_LAYER_NORMALIZATION, 17, ln[k].label);
        cv_test_node_input(&nc, cv_test_random(ln[k].x, 210 + k, 2, 0.5f));
        cv_test_node_const(&nc, cv_test_random(ln[k].scale, 220 + k, 0.5f, 1), true);
        if (ln[k].bias.ndim >= 0) cv_test_node_const(&nc, cv_test_uniform(ln[k].bias, 230 + k), true);
        cv_test_node_add(&nc, ln[k].nout);
        cv_test_node_int(&nc, "axis", ln[k].axis);
        check(&nc, 0);
    }
}

static void softmax_cases(void)
{
    static const struct {
        const char *label;
        cv_shape_t x;
        int opset;
        int64_t axis;
        bool has_axis;
    } cases[] = {
        {"opset 11, axis 1 (coerced to 2-D)", CV_TEST_SHAPE(2, 3, 4), 11, 1, true},
        {"opset 11, default axis", CV_TEST_SHAPE(2, 3, 4), 11, 0, false},
        {"opset 11, axis 2", CV_TEST_SHAPE(2, 3, 4), 11, 2, true},
        {"opset 13, axis 1 (one axis)", CV_TEST_SHAPE(2, 3, 4), 13, 1, true},
        {"opset 13, default axis", CV_TEST_SHAPE(3, 5), 13, 0, false},
        {"opset 13, axis 0", CV_TEST_SHAPE(4, 3), 13, 0, true},
        {"opset 13, long rows", CV_TEST_SHAPE(2, 1500), 13, -1, true},
    };
    for (int log_out = 0; log_out < 2; log_out++) {
        for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
            cv_test_node_t nc;
            unary(&nc, log_out ? CV_OP_LOG_SOFTMAX : CV_OP_SOFTMAX, cases[k].opset, cases[k].label,
                  cv_test_random(cases[k].x, 240 + k, 4, 0));
            if (cases[k].has_axis) cv_test_node_int(&nc, "axis", cases[k].axis);
            check(&nc, 0);
        }
    }
}

static void nn_cases(void)
{
    conv_cases();
    batch_norm_cases();
    gemm_cases();
    matmul_cases();
    pool_cases();
    normalization_cases();
    softmax_cases();
}

/* ---- elementwise ops ------------------------------------------------------------------------ */

static void unary_cases(void)
{
    static const struct {
        cv_op_t op;
        float scale;
        bool positive;
    } ops[] = {
        {CV_OP_RELU, 2, false},    {CV_OP_LEAKY_RELU, 2, false}, {CV_OP_ELU, 3, false},
        {CV_OP_SELU, 3, false},    {CV_OP_SIGMOID, 8, false},    {CV_OP_HARD_SIGMOID, 4, false},
        {CV_OP_HARD_SWISH, 5, false}, {CV_OP_TANH, 3, false},    {CV_OP_ERF, 2, false},
        {CV_OP_GELU, 3, false},    {CV_OP_SOFTPLUS, 6, false},   {CV_OP_SQRT, 1, true},
        {CV_OP_EXP, 4, false},     {CV_OP_LOG, 1, true},         {CV_OP_NEG, 1, false},
        {CV_OP_ABS, 1, false},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(ops); k++) {
        cv_test_node_t nc;
        cv_shape_t s = CV_TEST_SHAPE(2, 3, 5, 7);
        unary(&nc, ops[k].op, 17, "FP32",
              ops[k].positive ? cv_test_positive(s, 300 + k) : cv_test_random(s, 300 + k, ops[k].scale, 0));
        if (ops[k].op == CV_OP_LEAKY_RELU) cv_test_node_float(&nc, "alpha", 0.2f);
        if (ops[k].op == CV_OP_ELU) cv_test_node_float(&nc, "alpha", 0.7f);
        if (ops[k].op == CV_OP_HARD_SIGMOID) {
            cv_test_node_float(&nc, "alpha", 0.3f);
            cv_test_node_float(&nc, "beta", 0.4f);
        }
        check(&nc, 0);
    }
    cv_test_node_t nc;
    unary(&nc, CV_OP_GELU, 20, "tanh approximation", cv_test_random(CV_TEST_SHAPE(3, 4, 5), 320, 3, 0));
    cv_test_node_string(&nc, "approximate", "tanh");
    check(&nc, 0);
    /* Other dtypes the CPU kernels take. */
    unary(&nc, CV_OP_SIGMOID, 17, "FP64", as_dtype(cv_test_random(CV_TEST_SHAPE(4, 6), 321, 6, 0), CV_DTYPE_FP64));
    check(&nc, 0);
    unary(&nc, CV_OP_TANH, 17, "FP16", as_dtype(cv_test_random(CV_TEST_SHAPE(4, 6), 322, 3, 0), CV_DTYPE_FP16));
    check(&nc, 0);
    unary(&nc, CV_OP_RELU, 17, "BF16", as_dtype(cv_test_random(CV_TEST_SHAPE(4, 6), 323, 2, 0), CV_DTYPE_BF16));
    check(&nc, 0);
    unary(&nc, CV_OP_RELU, 17, "INT32", cv_test_ints(CV_DTYPE_INT32, CV_TEST_SHAPE(4, 6), 324, 1000));
    check(&nc, 0);
    unary(&nc, CV_OP_NEG, 17, "INT64", cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(4, 6), 325, 1000));
    check(&nc, 0);
    unary(&nc, CV_OP_ABS, 17, "INT8", cv_test_ints(CV_DTYPE_INT8, CV_TEST_SHAPE(4, 6), 326, 120));
    check(&nc, 0);
}

static void clip_cases(void)
{
    static const struct {
        const char *label;
        float lo, hi;
        bool has_lo, has_hi;
    } cases[] = {
        {"min and max weights", -0.3f, 0.6f, true, true},
        {"min only", -0.3f, 0, true, false},
        {"max only", 0, 0.2f, false, true},
        {"no bounds", 0, 0, false, false},
        {"min above max", 0.5f, -0.5f, true, true},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t nc;
        cv_test_node_new(&nc, CV_OP_CLIP, 13, cases[k].label);
        cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(4, 6, 5), 330 + k));
        if (cases[k].has_lo) cv_test_node_const(&nc, cv_test_scalar_f32(cases[k].lo), true);
        else if (cases[k].has_hi) cv_test_node_absent(&nc);
        if (cases[k].has_hi) cv_test_node_const(&nc, cv_test_scalar_f32(cases[k].hi), true);
        cv_test_node_add(&nc, 1);
        check(&nc, 0);
    }
}

static void binary_cases(void)
{
    static const cv_op_t ops[] = {CV_OP_ADD, CV_OP_SUB, CV_OP_MUL, CV_OP_DIV, CV_OP_POW, CV_OP_MIN, CV_OP_MAX};
    static const struct {
        const char *label;
        cv_shape_t a, b;
        bool b_weight;
    } shapes[] = {
        {"same shapes", CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(2, 3, 4, 5), false},
        {"per-channel weight", CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SHAPE(3, 1, 1), true},
        {"scalar weight", CV_TEST_SHAPE(2, 3, 4, 5), CV_TEST_SCALAR, true},
        {"both broadcast", CV_TEST_SHAPE(2, 1, 4, 1), CV_TEST_SHAPE(1, 3, 1, 5), false},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(ops); k++) {
        for (size_t j = 0; j < CV_ARRAY_LEN(shapes); j++) {
            cv_op_t op = ops[k];
            uint64_t seed = 400 + 10 * k + j;
            cv_test_node_t nc;
            cv_test_node_new(&nc, op, 14, shapes[j].label);
            cv_test_node_input(&nc, op == CV_OP_POW ? cv_test_positive(shapes[j].a, seed) : cv_test_uniform(shapes[j].a, seed));
            cv_tensor_t *b = op == CV_OP_DIV   ? cv_test_positive(shapes[j].b, seed + 5)
                             : op == CV_OP_POW ? cv_test_random(shapes[j].b, seed + 5, 2, 0)
                                               : cv_test_uniform(shapes[j].b, seed + 5);
            if (shapes[j].b_weight) cv_test_node_const(&nc, b, true);
            else cv_test_node_input(&nc, b);
            cv_test_node_add(&nc, 1);
            check(&nc, 0);
        }
    }
    /* Integer arithmetic: wrapping adds, truncating division. */
    cv_test_node_t nc;
    cv_test_node_new(&nc, CV_OP_ADD, 14, "INT64");
    cv_test_node_input(&nc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(3, 4), 440, 1000000));
    cv_test_node_input(&nc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(3, 4), 441, 1000000));
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_DIV, 14, "INT32, a constant divisor");
    cv_test_node_input(&nc, cv_test_ints(CV_DTYPE_INT32, CV_TEST_SHAPE(3, 4), 442, 1000));
    cv_test_node_const(&nc, cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(4), (int32_t[]){7, -3, 2, 100}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_MUL, 14, "INT32 by a scalar");
    cv_test_node_input(&nc, cv_test_ints(CV_DTYPE_INT32, CV_TEST_SHAPE(5, 2), 443, 1000));
    cv_test_node_const(&nc, cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SCALAR, (int32_t[]){-3}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
}

static void prelu_cases(void)
{
    static const struct {
        const char *label;
        cv_shape_t slope;
    } cases[] = {
        {"per-channel slope", CV_TEST_SHAPE(3, 1, 1)},
        {"one slope", CV_TEST_SHAPE(1)},
        {"slope per element", CV_TEST_SHAPE(2, 3, 4, 5)},
        {"trailing slope", CV_TEST_SHAPE(5)},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t nc;
        cv_test_node_new(&nc, CV_OP_PRELU, 16, cases[k].label);
        cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4, 5), 450 + k));
        cv_test_node_const(&nc, cv_test_random(cases[k].slope, 460 + k, 0.5f, 0.25f), true);
        cv_test_node_add(&nc, 1);
        check(&nc, 0);
    }
}

/* Sum, Mean, Min, Max of one to three inputs that broadcast together; the
 * second is a weight. */
static void variadic_cases(void)
{
    static const cv_op_t ops[] = {CV_OP_SUM, CV_OP_MEAN, CV_OP_MIN, CV_OP_MAX};
    static const char *labels[] = {"one input", "two, a weight", "three, a weight"};
    static const cv_shape_t shapes[3] = {CV_TEST_SHAPE(2, 3, 4), CV_TEST_SHAPE(3, 1), CV_TEST_SHAPE(2, 3, 4)};
    for (size_t k = 0; k < CV_ARRAY_LEN(ops); k++) {
        for (int n = 1; n <= 3; n++) {
            cv_test_node_t nc;
            cv_test_node_new(&nc, ops[k], 13, labels[n - 1]);
            for (int i = 0; i < n; i++) {
                cv_tensor_t *t = cv_test_uniform(shapes[i], 470 + 10 * k + (uint64_t)i);
                if (i == 1) cv_test_node_const(&nc, t, true);
                else cv_test_node_input(&nc, t);
            }
            cv_test_node_add(&nc, 1);
            check(&nc, 0);
        }
    }
}

static void equal_where_cases(void)
{
    cv_test_node_t nc;
    cv_test_node_new(&nc, CV_OP_EQUAL, 13, "FP32 levels, broadcast");
    cv_test_node_input(&nc, cv_test_levels(CV_TEST_SHAPE(2, 3, 4), 510));
    cv_test_node_input(&nc, cv_test_levels(CV_TEST_SHAPE(2, 3, 1), 511));
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_EQUAL, 13, "INT64 and a constant");
    cv_test_node_input(&nc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(5, 6), 512, 2));
    cv_test_node_const(&nc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(6), 513, 2), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_EQUAL, 13, "BOOL");
    cv_test_node_input(&nc, cv_test_bools(CV_TEST_SHAPE(4, 5), 514));
    cv_test_node_input(&nc, cv_test_bools(CV_TEST_SHAPE(4, 5), 515));
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_EQUAL, 13, "FP32 and a weight");
    cv_test_node_input(&nc, cv_test_levels(CV_TEST_SHAPE(4, 5), 516));
    cv_test_node_const(&nc, cv_test_levels(CV_TEST_SHAPE(5), 517), true);
    cv_test_node_add(&nc, 1);
    check(&nc, SAME_RESULT_OK);

    cv_test_node_new(&nc, CV_OP_WHERE, 16, "scalar Y weight");
    cv_test_node_input(&nc, cv_test_bools(CV_TEST_SHAPE(2, 1, 4), 520));
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 521));
    cv_test_node_const(&nc, cv_test_scalar_f32(-7.5f), true);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_WHERE, 16, "general broadcast");
    cv_test_node_input(&nc, cv_test_bools(CV_TEST_SHAPE(2, 1, 4, 1), 522));
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(1, 3, 1, 5), 523));
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4, 5), 524));
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_WHERE, 16, "INT64");
    cv_test_node_input(&nc, cv_test_bools(CV_TEST_SHAPE(3, 4), 525));
    cv_test_node_input(&nc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(3, 4), 526, 1000));
    cv_test_node_input(&nc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(3, 4), 527, 1000));
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
}

/* Cast between dtypes through the values where conversions differ: NaN,
 * infinities, halves, past INT32, past FP16, ties of FP16 rounding. */
static void cast_cases(void)
{
    static const float fv[] = {0.0f,  -0.0f, 0.5f,     -0.5f,    1.5f,    -2.7f, 3e9f,     -3e9f,
                               1e10f, 65519.0f, 65520.0f, 2049.0f, 1e-8f, NAN, INFINITY, -INFINITY};
    static const int64_t iv[] = {0,     1,     -1,   2049,          2051,      65519,     65520,
                                 70000, -3, 1099511627777LL, INT64_MAX, INT64_MIN, 16777217, -16777217};
    static const struct {
        cv_dtype_t from, to;
    } pairs[] = {
        {CV_DTYPE_FP32, CV_DTYPE_INT64}, {CV_DTYPE_FP32, CV_DTYPE_INT32}, {CV_DTYPE_FP32, CV_DTYPE_BOOL},
        {CV_DTYPE_FP32, CV_DTYPE_FP16},  {CV_DTYPE_FP32, CV_DTYPE_FP64},  {CV_DTYPE_FP32, CV_DTYPE_FP32},
        {CV_DTYPE_INT64, CV_DTYPE_FP32}, {CV_DTYPE_INT64, CV_DTYPE_INT32}, {CV_DTYPE_INT64, CV_DTYPE_BOOL},
        {CV_DTYPE_INT64, CV_DTYPE_FP16}, {CV_DTYPE_FP16, CV_DTYPE_FP32},  {CV_DTYPE_FP16, CV_DTYPE_INT64},
        {CV_DTYPE_BOOL, CV_DTYPE_FP32},  {CV_DTYPE_BOOL, CV_DTYPE_INT64}, {CV_DTYPE_INT32, CV_DTYPE_INT64},
        {CV_DTYPE_INT32, CV_DTYPE_FP16}, {CV_DTYPE_FP64, CV_DTYPE_FP32},
    };
    cv_shape_t fs = CV_TEST_SHAPE((int64_t)CV_ARRAY_LEN(fv)), is = CV_TEST_SHAPE((int64_t)CV_ARRAY_LEN(iv));
    for (size_t k = 0; k < CV_ARRAY_LEN(pairs); k++) {
        char label[64];
        cv_tensor_t *x;
        switch (pairs[k].from) {
        case CV_DTYPE_FP32: x = cv_test_tensor(CV_DTYPE_FP32, fs, fv); break;
        case CV_DTYPE_FP16:
        case CV_DTYPE_FP64: x = as_dtype(cv_test_tensor(CV_DTYPE_FP32, fs, fv), pairs[k].from); break;
        case CV_DTYPE_INT64: x = cv_test_tensor(CV_DTYPE_INT64, is, iv); break;
        case CV_DTYPE_BOOL: x = cv_test_bools(CV_TEST_SHAPE(3, 7), 530 + k); break;
        default: x = cv_test_ints(pairs[k].from, CV_TEST_SHAPE(3, 7), 530 + k, 100000); break;
        }
        cv_test_node_t nc;
        snprintf(label, sizeof label, "%s to %s", cv_dtype_name(pairs[k].from), cv_dtype_name(pairs[k].to));
        unary(&nc, CV_OP_CAST, 19, label, x);
        cv_test_node_int(&nc, "to", pairs[k].to);
        check(&nc, 0);
    }
}

static void elementwise_cases(void)
{
    unary_cases();
    clip_cases();
    binary_cases();
    prelu_cases();
    variadic_cases();
    equal_where_cases();
    cast_cases();
}

/* ---- layout, shape and reduction ops ------------------------------------------------------ */

static void view_cases(void)
{
    static const struct {
        const char *label;
        int64_t shape[3];
        int n;
        int allowzero;
    } reshapes[] = {
        {"[0,-1] keeps the batch", {0, -1}, 2, 0},
        {"[4,-1]", {4, -1}, 2, 0},
        {"[3,2,4], allowzero 1", {3, 2, 4}, 3, 1},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(reshapes); k++) {
        cv_test_node_t nc;
        cv_test_node_new(&nc, CV_OP_RESHAPE, 14, reshapes[k].label);
        cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 600 + k));
        cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(reshapes[k].n), reshapes[k].shape), false);
        cv_test_node_add(&nc, 1);
        if (reshapes[k].allowzero) cv_test_node_int(&nc, "allowzero", 1);
        check(&nc, 0);
    }
    static const int64_t flatten_axes[] = {1, 0, 2, -1};
    static const char *flatten_labels[] = {"axis 1", "axis 0", "axis 2", "axis -1"};
    for (size_t k = 0; k < CV_ARRAY_LEN(flatten_axes); k++) {
        cv_test_node_t nc;
        unary(&nc, CV_OP_FLATTEN, 13, flatten_labels[k], cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 610 + k));
        cv_test_node_int(&nc, "axis", flatten_axes[k]);
        check(&nc, 0);
    }
    cv_test_node_t nc;
    cv_test_node_new(&nc, CV_OP_SQUEEZE, 13, "axes [1, -1]");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 1, 4, 1), 620));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(2), (int64_t[]){1, -1}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    /* Without axes Squeeze drops every dim of size 1, the batch axis too
     * when a slice has one row: alone, a 1-row slice would give [4] and in a
     * wave its rows [1,4]; the planner refuses to stack it. */
    unary(&nc, CV_OP_SQUEEZE, 13, "no axes", cv_test_uniform(CV_TEST_SHAPE(2, 1, 4, 1), 621));
    check(&nc, NOT_STACKABLE);
    cv_test_node_new(&nc, CV_OP_UNSQUEEZE, 13, "axes [1, 3]");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 4), 622));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(2), (int64_t[]){1, 3}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_UNSQUEEZE, 13, "axis 0");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 4), 623));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(1), (int64_t[]){0}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    unary(&nc, CV_OP_IDENTITY, 13, "FP32", cv_test_uniform(CV_TEST_SHAPE(3, 5), 624));
    check(&nc, 0);
    unary(&nc, CV_OP_IDENTITY, 13, "INT64", cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(3, 5), 625, 99));
    check(&nc, 0);
    unary(&nc, CV_OP_DROPOUT, 13, "output only", cv_test_uniform(CV_TEST_SHAPE(3, 5), 626));
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_DROPOUT, 13, "with mask and a ratio");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(3, 5), 627));
    cv_test_node_const(&nc, cv_test_scalar_f32(0.5f), false);
    cv_test_node_add(&nc, 2);
    check(&nc, 0);
}

static void transpose_cases(void)
{
    static const struct {
        const char *label;
        cv_shape_t x;
        int64_t perm[4];
        int n;
    } cases[] = {
        {"NCHW to NHWC", CV_TEST_SHAPE(2, 3, 4, 5), {0, 2, 3, 1}, 4},
        {"batch axis moved", CV_TEST_SHAPE(2, 3, 4, 5), {3, 1, 0, 2}, 4},
        {"default: reversed", CV_TEST_SHAPE(2, 3, 4, 5), {0}, 0},
        {"2-D, odd extents", CV_TEST_SHAPE(33, 65), {1, 0}, 2},
        {"identity permutation", CV_TEST_SHAPE(2, 3, 4), {0, 1, 2}, 3},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
        cv_test_node_t nc;
        unary(&nc, CV_OP_TRANSPOSE, 13, cases[k].label, cv_test_uniform(cases[k].x, 630 + k));
        if (cases[k].n) cv_test_node_ints(&nc, "perm", cases[k].perm, cases[k].n);
        check(&nc, 0);
    }
    cv_test_node_t nc;
    unary(&nc, CV_OP_TRANSPOSE, 13, "INT64", cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(3, 4), 636, 1000));
    cv_test_node_ints(&nc, "perm", (int64_t[]){1, 0}, 2);
    check(&nc, 0);
}

static void concat_split_cases(void)
{
    cv_test_node_t nc;
    cv_test_node_new(&nc, CV_OP_CONCAT, 13, "axis 1");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 640));
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 1, 4), 641));
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 2, 4), 642));
    cv_test_node_add(&nc, 1);
    cv_test_node_int(&nc, "axis", 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_CONCAT, 13, "last axis, with a weight");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 1), 643));
    cv_test_node_const(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 5), 644), true);
    cv_test_node_add(&nc, 1);
    cv_test_node_int(&nc, "axis", -1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_CONCAT, 13, "axis 0");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(1, 3, 4), 645));
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 646));
    cv_test_node_add(&nc, 1);
    cv_test_node_int(&nc, "axis", 0);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_CONCAT, 13, "INT64 shapes, constants only");
    cv_test_node_input(&nc, cv_test_i64s(CV_TEST_SHAPE(1), (int64_t[]){-1}));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(2), (int64_t[]){3, 224}), false);
    cv_test_node_add(&nc, 1);
    cv_test_node_int(&nc, "axis", 0);
    check(&nc, NO_BATCH_AXIS);

    cv_test_node_new(&nc, CV_OP_SPLIT, 13, "equal parts, axis 1");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 6, 4), 650));
    cv_test_node_add(&nc, 3);
    cv_test_node_int(&nc, "axis", 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_SPLIT, 13, "sizes [1, 3, 2]");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 6, 4), 651));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(3), (int64_t[]){1, 3, 2}), false);
    cv_test_node_add(&nc, 3);
    cv_test_node_int(&nc, "axis", 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_SPLIT, 18, "num_outputs 3, uneven");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 7), 652));
    cv_test_node_add(&nc, 3);
    cv_test_node_int(&nc, "axis", -1);
    cv_test_node_int(&nc, "num_outputs", 3);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_SPLIT, 13, "axis 0");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(4, 3), 653));
    cv_test_node_add(&nc, 2);
    cv_test_node_int(&nc, "axis", 0);
    check(&nc, 0);
}

static void slice_gather_cases(void)
{
    static const struct {
        const char *label;
        int64_t starts[3], ends[3], axes[3], steps[3];
        int n;
        bool has_axes, has_steps;
    } slices[] = {
        {"axes 1, 2, step 2", {1, -4}, {4, 100}, {1, 2}, {1, 2}, 2, true, true},
        {"negative step", {-1}, {-100}, {2}, {-2}, 1, true, true},
        {"no axes, no steps", {0, 1}, {2, 5}, {0}, {0}, 2, false, false},
        {"negative steps on every axis", {4, 0, 6}, {0, 6, -100}, {0, 1, 2}, {-1, 3, -3}, 3, true, true},
        {"empty", {2}, {2}, {1}, {1}, 1, true, false},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(slices); k++) {
        int n = slices[k].n;
        cv_test_node_t nc;
        cv_test_node_new(&nc, CV_OP_SLICE, 13, slices[k].label);
        cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(5, 6, 7), 660 + k));
        cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(n), slices[k].starts), false);
        cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(n), slices[k].ends), false);
        if (slices[k].has_axes) cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(n), slices[k].axes), false);
        else if (slices[k].has_steps) cv_test_node_absent(&nc);
        if (slices[k].has_steps) cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(n), slices[k].steps), false);
        cv_test_node_add(&nc, 1);
        check(&nc, 0);
    }

    cv_test_node_t nc;
    cv_test_node_new(&nc, CV_OP_GATHER, 13, "axis 0, run-time indices");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(5, 4, 3), 670));
    cv_test_node_input(&nc, cv_test_i64s(CV_TEST_SHAPE(2, 2), (int64_t[]){0, -1, 3, 2}));
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_GATHER, 13, "axis 1, INT32 constant indices");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(5, 4, 3), 671));
    cv_test_node_const(&nc, cv_test_tensor(CV_DTYPE_INT32, CV_TEST_SHAPE(3), (int32_t[]){3, 0, -2}), false);
    cv_test_node_add(&nc, 1);
    cv_test_node_int(&nc, "axis", 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_GATHER, 13, "scalar index, last axis");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(5, 4, 3), 672));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SCALAR, (int64_t[]){-1}), false);
    cv_test_node_add(&nc, 1);
    cv_test_node_int(&nc, "axis", -1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_GATHER, 13, "embedding: a weight table");
    cv_test_node_const(&nc, cv_test_uniform(CV_TEST_SHAPE(10, 4), 673), true);
    cv_test_node_input(&nc, cv_test_ints(CV_DTYPE_INT64, CV_TEST_SHAPE(2, 3), 674, 4));
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_GATHER, 13, "INT64 data, constants only");
    cv_test_node_input(&nc, cv_test_i64s(CV_TEST_SHAPE(4), (int64_t[]){1, 3, 224, 224}));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SCALAR, (int64_t[]){0}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, NO_BATCH_AXIS);
}

static void constant_cases(void)
{
    cv_test_node_t nc;
    unary(&nc, CV_OP_SHAPE, 15, "whole shape", cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 680));
    check(&nc, 0);
    unary(&nc, CV_OP_SHAPE, 15, "start 1, end -1", cv_test_uniform(CV_TEST_SHAPE(2, 3, 4, 5), 681));
    cv_test_node_int(&nc, "start", 1);
    cv_test_node_int(&nc, "end", -1);
    check(&nc, 0);

    cv_tensor_t *value = cv_test_uniform(CV_TEST_SHAPE(2, 3), 682);
    cv_test_node_new(&nc, CV_OP_CONSTANT, 13, "a tensor");
    cv_test_node_add(&nc, 1);
    cv_test_graph_attr_tensor(nc.g, nc.node, "value", value);
    check(&nc, 0);
    cv_tensor_destroy(value);
    cv_test_node_new(&nc, CV_OP_CONSTANT, 13, "value_float");
    cv_test_node_add(&nc, 1);
    cv_test_node_float(&nc, "value_float", -2.5f);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_CONSTANT, 13, "value_ints");
    cv_test_node_add(&nc, 1);
    cv_test_node_ints(&nc, "value_ints", (int64_t[]){4, -1, 7}, 3);
    check(&nc, 0);

    /* ConstantOfShape and Range read only constants: their shape input
     * (or start) is a weight, so that the planner keeps them as steps. */
    cv_test_node_new(&nc, CV_OP_CONSTANT_OF_SHAPE, 9, "default: FP32 zeros");
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(3), (int64_t[]){2, 3, 4}), true);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    value = cv_test_tensor(CV_DTYPE_INT64, CV_TEST_SHAPE(1), (int64_t[]){-9});
    cv_test_node_new(&nc, CV_OP_CONSTANT_OF_SHAPE, 9, "INT64 value");
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(2), (int64_t[]){3, 2}), true);
    cv_test_node_add(&nc, 1);
    cv_test_graph_attr_tensor(nc.g, nc.node, "value", value);
    check(&nc, 0);
    cv_tensor_destroy(value);

    cv_test_node_new(&nc, CV_OP_RANGE, 11, "FP32, start a weight");
    cv_test_node_const(&nc, cv_test_scalar_f32(1.0f), true);
    cv_test_node_const(&nc, cv_test_scalar_f32(5.5f), false);
    cv_test_node_const(&nc, cv_test_scalar_f32(1.5f), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_RANGE, 11, "INT64, counting down");
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SCALAR, (int64_t[]){10}), true);
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SCALAR, (int64_t[]){-4}), false);
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SCALAR, (int64_t[]){-3}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
}

static void expand_tile_pad_cases(void)
{
    cv_test_node_t nc;
    cv_test_node_new(&nc, CV_OP_EXPAND, 13, "[3,1] to [2,3,4]");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(3, 1), 690));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(3), (int64_t[]){2, 3, 4}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_EXPAND, 13, "[2,1,4] by [1,3,1]");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 1, 4), 691));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(3), (int64_t[]){1, 3, 1}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);

    static const struct {
        const char *label;
        cv_shape_t x;
        int64_t reps[3];
    } tiles[] = {
        {"[2,3] by [1,3]", CV_TEST_SHAPE(2, 3), {1, 3}},
        {"[2,1,3] by [1,4,2]", CV_TEST_SHAPE(2, 1, 3), {1, 4, 2}},
        {"[2,3] by [2,3]", CV_TEST_SHAPE(2, 3), {2, 3}},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(tiles); k++) {
        cv_test_node_new(&nc, CV_OP_TILE, 13, tiles[k].label);
        cv_test_node_input(&nc, cv_test_uniform(tiles[k].x, 692 + k));
        cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(tiles[k].x.ndim), tiles[k].reps), false);
        cv_test_node_add(&nc, 1);
        check(&nc, 0);
    }

    static const struct {
        const char *mode, *label;
        cv_shape_t x;
        int64_t pads[6];
        int np;
        bool value;
    } pads[] = {
        {"constant", "constant, a weight value", CV_TEST_SHAPE(2, 3, 4), {0, 1, 2, 0, 2, 1}, 6, true},
        {"constant", "constant, cropping", CV_TEST_SHAPE(2, 3, 4), {0, -1, 1, 0, 1, -2}, 6, true},
        {"constant", "constant zeros, batch axis padded", CV_TEST_SHAPE(2, 3, 4), {1, 0, 0, 0, 0, 1}, 6, false},
        {"reflect", "reflect", CV_TEST_SHAPE(3, 4), {0, 2, 0, 1}, 4, false},
        {"edge", "edge", CV_TEST_SHAPE(3, 4), {0, 3, 0, 2}, 4, false},
        {"wrap", "wrap", CV_TEST_SHAPE(3, 4), {1, 2, 3, 1}, 4, false},
    };
    for (size_t k = 0; k < CV_ARRAY_LEN(pads); k++) {
        cv_test_node_new(&nc, CV_OP_PAD, 19, pads[k].label);
        cv_test_node_input(&nc, cv_test_uniform(pads[k].x, 700 + k));
        cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(pads[k].np), pads[k].pads), false);
        if (pads[k].value) cv_test_node_const(&nc, cv_test_scalar_f32(2.5f), true);
        cv_test_node_add(&nc, 1);
        cv_test_node_string(&nc, "mode", pads[k].mode);
        check(&nc, 0);
    }
    cv_test_node_new(&nc, CV_OP_PAD, 19, "axes input");
    cv_test_node_input(&nc, cv_test_uniform(CV_TEST_SHAPE(2, 3, 4), 710));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(2), (int64_t[]){1, 2}), false);
    cv_test_node_absent(&nc);
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(1), (int64_t[]){-1}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
}

static void reduce_cases(void)
{
    static const struct {
        const char *label;
        cv_shape_t x;
        int64_t axes[3];
        int n;
        int keepdims, noop;
    } cases[] = {
        {"axis 1", CV_TEST_SHAPE(2, 3, 4, 5), {1}, 1, 1, 0},
        {"last axis, keepdims 0", CV_TEST_SHAPE(2, 3, 4, 5), {-1}, 1, 0, 0},
        {"axes 0 and 2", CV_TEST_SHAPE(2, 3, 4, 5), {0, 2}, 2, 1, 0},
        {"every axis", CV_TEST_SHAPE(2, 3, 4, 5), {0}, 0, 1, 0},
        {"spatial axes", CV_TEST_SHAPE(2, 3, 4, 5), {2, 3}, 2, 1, 0},
        {"no axes, noop_with_empty_axes", CV_TEST_SHAPE(2, 3, 4, 5), {0}, 0, 1, 1},
        {"long inner run", CV_TEST_SHAPE(3, 100), {1}, 1, 1, 0},
        {"empty reduced axis", CV_TEST_SHAPE(2, 0, 3), {1}, 1, 1, 0},
    };
    for (int mean = 0; mean < 2; mean++) {
        for (size_t k = 0; k < CV_ARRAY_LEN(cases); k++) {
            cv_test_node_t nc;
            cv_test_node_new(&nc, mean ? CV_OP_REDUCE_MEAN : CV_OP_REDUCE_SUM, 18, cases[k].label);
            cv_test_node_input(&nc, cv_test_uniform(cases[k].x, 720 + k));
            if (cases[k].n) cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(cases[k].n), cases[k].axes), false);
            cv_test_node_add(&nc, 1);
            cv_test_node_int(&nc, "keepdims", cases[k].keepdims);
            if (cases[k].noop) cv_test_node_int(&nc, "noop_with_empty_axes", 1);
            check(&nc, 0);
        }
    }
    cv_test_node_t nc;
    cv_test_node_new(&nc, CV_OP_REDUCE_MEAN, 18, "INT32 mean truncates");
    cv_test_node_input(&nc, cv_test_ints(CV_DTYPE_INT32, CV_TEST_SHAPE(2, 3), 730, 100));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(1), (int64_t[]){1}), false);
    cv_test_node_add(&nc, 1);
    cv_test_node_int(&nc, "keepdims", 0);
    check(&nc, 0);
    cv_test_node_new(&nc, CV_OP_REDUCE_SUM, 18, "FP64");
    cv_test_node_input(&nc, as_dtype(cv_test_uniform(CV_TEST_SHAPE(3, 4, 5), 731), CV_DTYPE_FP64));
    cv_test_node_const(&nc, cv_test_i64s(CV_TEST_SHAPE(1), (int64_t[]){2}), false);
    cv_test_node_add(&nc, 1);
    check(&nc, 0);
}

static void layout_cases(void)
{
    view_cases();
    transpose_cases();
    concat_split_cases();
    slice_gather_cases();
    constant_cases();
    expand_tile_pad_cases();
    reduce_cases();
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Builds every case without running it and counts them per op: an op of
 * CV_OP_LIST without one fails here, by name. */
static void test_every_op_has_a_case(void **state)
{
    memset(cases_of, 0, sizeof cases_of);
    counting = true;
    nn_cases();
    elementwise_cases();
    layout_cases();
    counting = false;
    int missing = 0, total = 0;
    char names[1024] = "";
    printf("  cases per op:\n");
#define CV_COUNT_ROW(id, onnx, stem)                                                             \
    printf("    %-20s %d\n", onnx, cases_of[CV_OP_##id]);                                          \
    total += cases_of[CV_OP_##id];                                                               \
    if (cases_of[CV_OP_##id] == 0) {                                                             \
        missing++;                                                                               \
        snprintf(names + strlen(names), sizeof names - strlen(names), " %s", onnx);              \
    }
    CV_OP_LIST(CV_COUNT_ROW)
#undef CV_COUNT_ROW
    printf("  %d cases for %d ops\n", total, (int)CV_OP_COUNT);
    if (missing) fail_msg("%d op(s) of CV_OP_LIST have no case in test_backend_ops.c:%s", missing, names);
}

static void test_nn_ops(void **state) { nn_cases(); }
static void test_elementwise_ops(void **state) { elementwise_cases(); }
static void test_layout_ops(void **state) { layout_cases(); }

/* Every case counted ran (none was cut short by a failure before it), some
 * as waves, some through step_run directly. */
static void test_summary(void **state)
{
    int counted = 0, ran = 0, waves = 0, direct = 0;
    for (int op = 0; op < CV_OP_COUNT; op++) {
        counted += cases_of[op];
        ran += ran_of[op];
        waves += waves_of[op];
        direct += direct_of[op];
    }
    printf("  %s backend: %d cases run, %d of them also as waves of %d tenants, %d handed to step_run "
           "directly\n", BACKEND_NAME, ran, waves, WAVE_SLICES, direct);
    assert_int_equal(ran, counted);
    assert_true(waves > 0);
    assert_true(direct > 0);
}

int main(void)
{
#ifdef CV_TEST_BACKEND_CUDA
    int rc = cv_test_gpu_skip();
    if (rc) return rc;
#else
    cv_err_t why;
    if (cv_test_cuda_available(&why))
        printf("CUDA half: a GPU is here; test_gpu_backend_ops (label gpu) runs these cases on it\n");
    else
        printf("CUDA half: not in this binary (test_gpu_backend_ops, label gpu), and it would skip here: %s\n",
               why.msg);
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_has_a_case),
        cmocka_unit_test(test_nn_ops),
        cmocka_unit_test(test_elementwise_ops),
        cmocka_unit_test(test_layout_ops),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
