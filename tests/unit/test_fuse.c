/*
 * test_fuse.c: the residual Add folded into the Conv before it
 * (cv_plan_fuse_residuals, src/plan/fuse.c): which Adds it takes and which
 * it must leave, and that a fused graph computes the same bits as the
 * unfused one (Conv, Add, Relu as separate steps), alone and as a wave of
 * tenants with their own weights, on every CPU conv path (im2col, 1x1,
 * depthwise). The CUDA kernels are held to the CPU's by the backend
 * harness (test_backend_ops.c, its "+ residual" Conv cases).
 */
#include "graphs.h"

#include "ir/passes.h"
#include "onnx/onnx_loader.h"
#include "testutil.h"

#include <string.h>

/* ---- the graph -------------------------------------------------------------- */

/* Node indices of the Convs the test looks at. */
typedef struct net {
    cv_graph_t *g;
    int c_im2col, c_pointwise, c_main, c_shortcut, c_depthwise, c_broadcast, c_output;
} net_t;

static int op2(cv_graph_t *g, cv_op_t op, int a, int b, const char *name)
{
    return cv_test_graph_node(g, op, (int[]){a, b}, 2, name);
}

static int relu(cv_graph_t *g, int x, const char *name)
{
    return cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_RELU, (int[]){x}, 1, name));
}

/* x [N,8,6,6]:
 *   a1 = Relu(Conv3x3(x) + x)                  fused (im2col path, Relu)
 *   a2 = a1 + Conv1x1(a1), residual first      fused (1x1 path, no bias)
 *   a3 = Relu(Conv1x1/2(a2) + Conv1x1/2(a2))   fused into the later Conv
 *   a4 = Clip(DW3x3(a3) + a3, 0, 6)            fused (depthwise path, Clip)
 *   a5 = Conv1x1(a4) + GAP(a4)                 not fused: [N,16,1,1] broadcasts
 *   y  = Conv1x1(a5) + a5, Conv1x1(a5)         not fused: the Conv's output is
 *                                              a graph output too */
static net_t build(uint64_t seed)
{
    net_t n;
    cv_graph_t *g = n.g = cv_test_graph_new("test-fuse", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 8, 6, 6));

    n.c_im2col = cv_test_graph_conv(g, "c_im2col", x, 8, 8, 3, 1, 1, true, seed + 10);
    int a1 = relu(g, cv_test_graph_out(g, op2(g, CV_OP_ADD, cv_test_graph_out(g, n.c_im2col), x, "add1")), "r1");

    n.c_pointwise = cv_test_graph_conv(g, "c_pointwise", a1, 8, 8, 1, 1, 1, false, seed + 20);
    int a2 = cv_test_graph_out(g, op2(g, CV_OP_ADD, a1, cv_test_graph_out(g, n.c_pointwise), "add2"));

    n.c_main = cv_test_graph_conv(g, "c_main", a2, 16, 8, 1, 2, 1, true, seed + 30);
    n.c_shortcut = cv_test_graph_conv(g, "c_shortcut", a2, 16, 8, 1, 2, 1, true, seed + 40);
    int a3 = relu(g,
                  cv_test_graph_out(g, op2(g, CV_OP_ADD, cv_test_graph_out(g, n.c_main),
                                           cv_test_graph_out(g, n.c_shortcut), "add3")),
                  "r3");

    n.c_depthwise = cv_test_graph_conv(g, "c_depthwise", a3, 16, 16, 3, 1, 16, true, seed + 50);
    int sum4 = cv_test_graph_out(g, op2(g, CV_OP_ADD, cv_test_graph_out(g, n.c_depthwise), a3, "add4"));
    int lo = cv_test_graph_const_scalar(g, "lo", 0.0f), hi = cv_test_graph_const_scalar(g, "hi", 6.0f);
    int a4 = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_CLIP, (int[]){sum4, lo, hi}, 3, "clip4"));

    n.c_broadcast = cv_test_graph_conv(g, "c_broadcast", a4, 16, 16, 1, 1, 1, true, seed + 60);
    int gap = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_GLOBAL_AVERAGE_POOL, (int[]){a4}, 1, "gap"));
    int a5 = cv_test_graph_out(g, op2(g, CV_OP_ADD, cv_test_graph_out(g, n.c_broadcast), gap, "add5"));

    n.c_output = cv_test_graph_conv(g, "c_output", a5, 16, 16, 1, 1, 1, true, seed + 70);
    int y = cv_test_graph_out(g, op2(g, CV_OP_ADD, cv_test_graph_out(g, n.c_output), a5, "add6"));
    cv_test_graph_output(g, y);
    cv_test_graph_output(g, cv_test_graph_out(g, n.c_output));
    return n;
}

static int live_nodes(const cv_graph_t *g, cv_op_t op)
{
    int count = 0;
    for (int i = 0; i < g->nnodes; i++) count += !g->nodes[i].dead && g->nodes[i].op == op;
    return count;
}

static void fuse(cv_graph_t *g, cv_cpu_ctx_t *cpu)
{
    cv_err_t err;
    if (cv_plan_fuse_residuals(g, cpu, &err) != CV_STATUS_OK) fail_msg("fuse: %s", err.msg);
}

/* ---- tests ------------------------------------------------------------------- */

static cv_backend_t *cpu_backend(void)
{
    cv_backend_t *be;
    cv_err_t err;
    assert_int_equal(cv_backend_cpu_create(2, &be, &err), CV_STATUS_OK);
    return be;
}

/* The Adds it takes, the ones it leaves, and the activations after them. */
static void test_which_adds(void **state)
{
    cv_backend_t *be = cpu_backend();
    cv_cpu_ctx_t *cpu = cv_backend_cpu_ctx(be);
    net_t n = build(1);
    cv_graph_t *g = n.g;
    cv_test_graph_prepare(g, cpu);
    uint64_t unfused_hash = cv_ir_family_hash(g);
    assert_int_equal(live_nodes(g, CV_OP_ADD), 6);
    fuse(g, cpu);

    assert_true(g->nodes[n.c_im2col].fused_residual);
    assert_int_equal(g->nodes[n.c_im2col].activation, CV_ACTIVATION_RELU);
    assert_true(g->nodes[n.c_pointwise].fused_residual);
    assert_int_equal(g->nodes[n.c_pointwise].inputs[2], -1); /* no bias */
    assert_int_equal(g->nodes[n.c_pointwise].activation, CV_ACTIVATION_NONE);
    /* Both operands are Convs: the later one takes the earlier's output. */
    assert_false(g->nodes[n.c_main].fused_residual);
    assert_true(g->nodes[n.c_shortcut].fused_residual);
    assert_int_equal(g->nodes[n.c_shortcut].inputs[3], g->nodes[n.c_main].outputs[0]);
    assert_true(g->nodes[n.c_depthwise].fused_residual);
    assert_int_equal(g->nodes[n.c_depthwise].activation, CV_ACTIVATION_CLIP);
    assert_false(g->nodes[n.c_broadcast].fused_residual);
    assert_false(g->nodes[n.c_output].fused_residual);
    assert_int_equal(live_nodes(g, CV_OP_ADD), 2);
    assert_int_equal(live_nodes(g, CV_OP_RELU), 0);
    assert_int_equal(live_nodes(g, CV_OP_CLIP), 0);
    /* A fused tenant is of another family than an unfused one. */
    assert_true(cv_ir_family_hash(g) != unfused_hash);

    /* Fusing twice changes nothing more. */
    int steps_before = 0;
    for (int i = 0; i < g->nnodes; i++) steps_before += !g->nodes[i].dead;
    fuse(g, cpu);
    int steps_after = 0;
    for (int i = 0; i < g->nnodes; i++) steps_after += !g->nodes[i].dead;
    assert_int_equal(steps_after, steps_before);
    cv_graph_destroy(g);
    be->iface->destroy(be);
}

/* A wave of three tenants (1, 3 and 2 rows, their own weights) of the fused
 * graph against the same wave unfused: the same bits, both outputs. */
static void test_fused_equals_unfused(void **state)
{
    cv_backend_t *be = cpu_backend();
    cv_cpu_ctx_t *cpu = cv_backend_cpu_ctx(be);
    cv_executor_t *ex;
    cv_err_t err;
    assert_int_equal(cv_exec_create(be, &ex, &err), CV_STATUS_OK);
    enum { TENANTS = 3 };
    const int64_t rows[TENANTS] = {1, 3, 2};
    cv_graph_t *fused[TENANTS], *plain[TENANTS];
    void **ftab[TENANTS], **ptab[TENANTS];
    for (int t = 0; t < TENANTS; t++) {
        fused[t] = build(1).g;
        cv_test_graph_vary_weights(fused[t], t);
        plain[t] = cv_test_graph_clone(fused[t]);
        cv_test_graph_prepare(fused[t], cpu);
        cv_test_graph_prepare(plain[t], cpu);
        fuse(fused[t], cpu);
        ftab[t] = cv_test_tenant_upload(be, fused[t], CV_PRECISION_FP32);
        ptab[t] = cv_test_tenant_upload(be, plain[t], CV_PRECISION_FP32);
    }
    cv_tensor_t input;
    cv_shape_t s = CV_TEST_SHAPE(6, 8, 6, 6);
    assert_int_equal(cv_tensor_alloc(&input, CV_DTYPE_FP32, &s), CV_STATUS_OK);
    cv_test_fill_random(&input, 5);

    cv_plan_t *fplan = cv_test_plan_rows(fused[0], 6, cpu), *pplan = cv_test_plan_rows(plain[0], 6, cpu);
    assert_true(fplan->stackable && pplan->stackable);
    assert_int_equal(fplan->nsteps, pplan->nsteps - 7); /* 4 Adds, 2 Relus, a Clip */
    cv_tensor_t fout[2], pout[2];
    cv_test_wave_run(ex, fplan, ftab, rows, TENANTS, CV_PRECISION_FP32, &input, fout);
    cv_test_wave_run(ex, pplan, ptab, rows, TENANTS, CV_PRECISION_FP32, &input, pout);
    for (int o = 0; o < 2; o++) {
        assert_true(cv_shape_equal(&fout[o].shape, &pout[o].shape));
        assert_memory_equal(fout[o].data, pout[o].data, cv_tensor_nbytes(&pout[o]));
        cv_tensor_free(&fout[o]);
        cv_tensor_free(&pout[o]);
    }
    /* And a tenant alone gives its rows of the wave (fused both times). */
    cv_tensor_t mine = cv_test_rows_copy(&input, 1, 3), alone[2], wave[2];
    cv_plan_t *solo = cv_test_plan_rows(fused[1], 3, cpu);
    cv_test_wave_run(ex, solo, &ftab[1], &rows[1], 1, CV_PRECISION_FP32, &mine, alone);
    cv_test_wave_run(ex, fplan, ftab, rows, TENANTS, CV_PRECISION_FP32, &input, wave);
    cv_tensor_t from_wave = cv_test_rows_copy(&wave[0], 1, 3);
    assert_memory_equal(from_wave.data, alone[0].data, cv_tensor_nbytes(&alone[0]));
    cv_tensor_free(&from_wave);
    for (int o = 0; o < 2; o++) {
        cv_tensor_free(&alone[o]);
        cv_tensor_free(&wave[o]);
    }
    cv_tensor_free(&mine);
    cv_plan_destroy(solo);
    cv_plan_destroy(fplan);
    cv_plan_destroy(pplan);
    cv_tensor_free(&input);
    for (int t = 0; t < TENANTS; t++) {
        cv_test_tenant_release(be, fused[t], ftab[t]);
        cv_test_tenant_release(be, plain[t], ptab[t]);
        cv_graph_destroy(fused[t]);
        cv_graph_destroy(plain[t]);
    }
    cv_exec_destroy(ex);
    be->iface->destroy(be);
}

/* Where one probe plan cannot speak for every plan, nothing is fused: an
 * unbatched graph whose input has a symbolic dim. An unbatched graph of
 * known shapes is fused. */
static void test_probe_limits(void **state)
{
    cv_backend_t *be = cpu_backend();
    cv_cpu_ctx_t *cpu = cv_backend_cpu_ctx(be);
    for (int known = 0; known < 2; known++) {
        cv_graph_t *g = cv_test_graph_new("test-fuse-unbatched", 17, false);
        int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 4, known ? 5 : -1, 5));
        int c = cv_test_graph_conv(g, "c", x, 4, 4, 3, 1, 1, true, 3);
        int y = cv_test_graph_out(g, op2(g, CV_OP_ADD, x, cv_test_graph_out(g, c), "add"));
        cv_test_graph_output(g, y);
        cv_test_graph_prepare(g, cpu);
        fuse(g, cpu);
        assert_int_equal(g->nodes[c].fused_residual, known == 1);
        assert_int_equal(live_nodes(g, CV_OP_ADD), known ? 0 : 1);
        cv_graph_destroy(g);
    }
    be->iface->destroy(be);
}

/* A MaxPool reads and writes half activations too: a Conv's output that
 * a MaxPool reads, and a MaxPool's output that a Conv reads, are marked
 * (and marked as touched by a MaxPool, half_by_pool);
 * a MaxPool's output that is a graph output, and both sides of a MaxPool
 * whose Indices output is asked for, are not. */
static void test_half_values_max_pool(void **state)
{
    cv_backend_t *be = cpu_backend();
    cv_cpu_ctx_t *cpu = cv_backend_cpu_ctx(be);
    for (int indices = 0; indices < 2; indices++) {
        cv_graph_t *g = cv_test_graph_new("test-fuse-max-pool", 17, true);
        int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 4, 8, 8));
        int c1 = cv_test_graph_conv(g, "c1", x, 8, 4, 3, 1, 1, true, 5);
        /* Y, and Indices (a graph output) when asked */
        int outs[2] = {cv_graph_add_value(g, "pool_y"), indices ? cv_graph_add_value(g, "pool_indices") : -1};
        int pool = cv_graph_add_node(g, "pool", CV_OP_MAX_POOL, (int[]){cv_test_graph_out(g, c1)}, 1, outs,
                                     indices ? 2 : 1);
        assert_true(outs[0] >= 0 && pool >= 0);
        cv_test_graph_attr_ints(g, pool, "kernel_shape", (const int64_t[]){3, 3}, 2);
        cv_test_graph_attr_ints(g, pool, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
        if (indices) cv_test_graph_output(g, outs[1]);
        int c2 = cv_test_graph_conv(g, "c2", cv_test_graph_out(g, pool), 8, 8, 3, 1, 1, true, 6);
        int pool2 = cv_test_graph_node(g, CV_OP_MAX_POOL, (int[]){cv_test_graph_out(g, c2)}, 1, "pool2");
        cv_test_graph_attr_ints(g, pool2, "kernel_shape", (const int64_t[]){2, 2}, 2);
        cv_test_graph_output(g, cv_test_graph_out(g, pool2));
        cv_test_graph_prepare(g, cpu);
        cv_plan_t *plan = cv_test_plan_rows(g, 2, cpu);
        const cv_plan_value_t *v = plan->values;
        assert_int_equal(v[g->nodes[c1].outputs[0]].half_ok, !indices);
        assert_int_equal(v[g->nodes[pool].outputs[0]].half_ok, !indices);
        assert_true(v[g->nodes[c2].outputs[0]].half_ok); /* read by pool2 */
        assert_false(v[g->nodes[pool2].outputs[0]].half_ok); /* a graph output */
        assert_false(v[g->inputs[0]].half_ok);
        /* A backend may keep what a MaxPool touches apart (half_by_pool). */
        assert_int_equal(v[g->nodes[c1].outputs[0]].half_by_pool, !indices);
        assert_int_equal(v[g->nodes[pool].outputs[0]].half_by_pool, !indices);
        assert_true(v[g->nodes[c2].outputs[0]].half_by_pool);
        cv_plan_destroy(plan);
        cv_graph_destroy(g);
    }
    be->iface->destroy(be);
}

/* Which activations a reduced-precision wave may keep in half
 * (cv_plan_value_t.half_ok, src/plan/plan.c): those 2-D Convs write and
 * only 2-D Convs read, as data or fused residual; not what a pooling or
 * an Add reads, not a graph output, not the graph's input. */
static void test_half_values(void **state)
{
    cv_backend_t *be = cpu_backend();
    cv_cpu_ctx_t *cpu = cv_backend_cpu_ctx(be);
    net_t n = build(1);
    cv_graph_t *g = n.g;
    cv_test_graph_prepare(g, cpu);
    fuse(g, cpu);
    cv_plan_t *plan = cv_test_plan_rows(g, 2, cpu);
    const cv_plan_value_t *v = plan->values;
    /* Read by the next Conv as data and as its fused residual. */
    assert_true(v[g->nodes[n.c_im2col].outputs[0]].half_ok);
    assert_true(v[g->nodes[n.c_pointwise].outputs[0]].half_ok);
    /* Read by the shortcut Conv as its residual. */
    assert_true(v[g->nodes[n.c_main].outputs[0]].half_ok);
    assert_true(v[g->nodes[n.c_shortcut].outputs[0]].half_ok);
    /* A GlobalAveragePool reads it too. */
    assert_false(v[g->nodes[n.c_depthwise].outputs[0]].half_ok);
    /* An Add that was not fused reads it. */
    assert_false(v[g->nodes[n.c_broadcast].outputs[0]].half_ok);
    /* A graph output. */
    assert_false(v[g->nodes[n.c_output].outputs[0]].half_ok);
    assert_false(v[g->inputs[0]].half_ok);
    int marked = 0;
    for (int i = 0; i < g->nvalues; i++) marked += v[i].half_ok;
    assert_int_equal(marked, 4);
    for (int i = 0; i < g->nvalues; i++) assert_false(v[i].half_by_pool); /* no MaxPool here */
    cv_plan_destroy(plan);
    cv_graph_destroy(g);
    be->iface->destroy(be);
}

/* Which half activations a backend may store channels innermost
 * (cv_plan_value_t.channels_inner_ok, src/plan/plan.c), on x [N,16,8,8]:
 *   a1 = Relu(Conv3x3(x))             no: a MaxPool reads it
 *   m1 = MaxPool(a1)                  no: a MaxPool writes it
 *   a2 = Relu(Conv3x3(m1) + m1)       no: its residual m1 is not marked
 *   a3 = Conv1x1(a2)                  no: a depthwise Conv reads it
 *   a4 = DW3x3(a3)                    no: a depthwise Conv writes it
 *   a5 = Conv1x1(a4)                  yes: read by c6 as data and residual
 *   a6 = Relu(Conv3x3(a5) + a5)       yes
 *   a7 = Conv1x1(a6) + a6             no: the pool reads it
 *   y  = GlobalAveragePool(a7)
 * All but m1's neighbours and a7 are half_ok: the rule is on top of it. */
static void test_channels_inner_values(void **state)
{
    cv_backend_t *be = cpu_backend();
    cv_cpu_ctx_t *cpu = cv_backend_cpu_ctx(be);
    cv_graph_t *g = cv_test_graph_new("test-fuse-channels-inner", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 16, 8, 8));
    int c1 = cv_test_graph_conv(g, "c1", x, 16, 16, 3, 1, 1, true, 101);
    int a1 = relu(g, cv_test_graph_out(g, c1), "r1");
    int pool = cv_test_graph_node(g, CV_OP_MAX_POOL, (int[]){a1}, 1, "pool");
    cv_test_graph_attr_ints(g, pool, "kernel_shape", (const int64_t[]){3, 3}, 2);
    cv_test_graph_attr_ints(g, pool, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    int m1 = cv_test_graph_out(g, pool);
    int c2 = cv_test_graph_conv(g, "c2", m1, 16, 16, 3, 1, 1, true, 102);
    int a2 = relu(g, cv_test_graph_out(g, op2(g, CV_OP_ADD, cv_test_graph_out(g, c2), m1, "add2")), "r2");
    int c3 = cv_test_graph_conv(g, "c3", a2, 32, 16, 1, 1, 1, true, 103);
    int c4 = cv_test_graph_conv(g, "c4", cv_test_graph_out(g, c3), 32, 32, 3, 1, 32, true, 104);
    int c5 = cv_test_graph_conv(g, "c5", cv_test_graph_out(g, c4), 16, 32, 1, 1, 1, true, 105);
    int a5 = cv_test_graph_out(g, c5);
    int c6 = cv_test_graph_conv(g, "c6", a5, 16, 16, 3, 1, 1, true, 106);
    int a6 = relu(g, cv_test_graph_out(g, op2(g, CV_OP_ADD, cv_test_graph_out(g, c6), a5, "add6")), "r6");
    int c7 = cv_test_graph_conv(g, "c7", a6, 16, 16, 1, 1, 1, true, 107);
    int a7 = cv_test_graph_out(g, op2(g, CV_OP_ADD, cv_test_graph_out(g, c7), a6, "add7"));
    cv_test_graph_output(g, cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_GLOBAL_AVERAGE_POOL, (int[]){a7}, 1, "gap")));
    cv_test_graph_prepare(g, cpu);
    fuse(g, cpu);
    assert_true(g->nodes[c2].fused_residual && g->nodes[c6].fused_residual && g->nodes[c7].fused_residual);
    cv_plan_t *plan = cv_test_plan_rows(g, 2, cpu);
    const cv_plan_value_t *v = plan->values;
    /* the output of each Conv (the Relu and the Add folded into it) */
    int out[8] = {0, g->nodes[c1].outputs[0], m1, g->nodes[c2].outputs[0], g->nodes[c3].outputs[0],
                  g->nodes[c4].outputs[0], g->nodes[c5].outputs[0], g->nodes[c6].outputs[0]};
    for (int i = 1; i < 8; i++) assert_true(v[out[i]].half_ok);
    assert_false(v[g->nodes[c7].outputs[0]].half_ok);
    const bool want[8] = {false, false, false, false, false, false, true, true};
    for (int i = 1; i < 8; i++)
        if (v[out[i]].channels_inner_ok != want[i])
            fail_msg("value %d (%s): channels_inner_ok %d, expected %d", i, g->values[out[i]].name,
                     v[out[i]].channels_inner_ok, want[i]);
    int marked = 0;
    for (int i = 0; i < g->nvalues; i++) marked += v[i].channels_inner_ok;
    assert_int_equal(marked, 2);
    cv_plan_destroy(plan);
    cv_graph_destroy(g);
    be->iface->destroy(be);
}

/* The same on a real export, MobileNetV2 of ../shared/models, through
 * the loader, the load-time passes and the fusion: its inverted residual
 * blocks' outputs are read by the next block's 1x1 expansion and, where
 * the next block keeps the shape, as the residual its 1x1 projection
 * folds in; every other activation touches a depthwise Conv, the input
 * or the pool. So the marked values are exactly the 17 block outputs:
 * each written by a 1x1 Conv of one group and read by nothing but such
 * Convs (as data or fused residual), and no Add is left to read one. */
static void test_channels_inner_mobilenet(void **state)
{
    if (!cv_test_have_shared()) {
        printf("skipped: %s/models is absent\n", cv_test_shared_dir());
        skip();
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/models/mobilenet_v2-seed1/model.onnx", cv_test_shared_dir());
    cv_backend_t *be = cpu_backend();
    cv_cpu_ctx_t *cpu = cv_backend_cpu_ctx(be);
    cv_graph_t *g;
    cv_err_t err;
    if (cv_onnx_load(path, &g, &err) != CV_STATUS_OK) fail_msg("load: %s", err.msg);
    cv_test_graph_prepare(g, cpu);
    fuse(g, cpu);
    assert_int_equal(live_nodes(g, CV_OP_ADD), 0); /* all ten residual Adds folded */
    cv_plan_t *plan = cv_test_plan_rows(g, 2, cpu);
    int marked = 0;
    for (int v = 0; v < g->nvalues; v++) {
        if (!plan->values[v].channels_inner_ok) continue;
        marked++;
        for (int s = 0; s < plan->nsteps; s++) {
            const cv_node_t *n = &g->nodes[plan->steps[s].node];
            bool one_group_1x1 = n->op == CV_OP_CONV && cv_node_attr_int(n, "group", 1) == 1 &&
                                 plan->values[n->inputs[1]].shape.dims[2] == 1;
            if (n->outputs[0] == v && !one_group_1x1)
                fail_msg("%s is written by %s", g->values[v].name, cv_op_name(n->op));
            for (int i = 0; i < n->ninputs; i++)
                if (n->inputs[i] == v && !(one_group_1x1 && (i == 0 || (i == 3 && n->fused_residual))))
                    fail_msg("%s is read by %s as input %d", g->values[v].name, cv_op_name(n->op), i);
        }
    }
    assert_int_equal(marked, 17); /* 1 + 2 + 3 + 4 + 3 + 3 + 1 blocks */
    cv_plan_destroy(plan);
    cv_graph_destroy(g);
    be->iface->destroy(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_which_adds),
        cmocka_unit_test(test_fused_equals_unfused),
        cmocka_unit_test(test_probe_limits),
        cmocka_unit_test(test_half_values),
        cmocka_unit_test(test_half_values_max_pool),
        cmocka_unit_test(test_channels_inner_values),
        cmocka_unit_test(test_channels_inner_mobilenet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
