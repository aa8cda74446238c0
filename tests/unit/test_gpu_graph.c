/*
 * test_gpu_graph.c: the CUDA backend's super-kernel cache (cuda_graph.cu):
 * waves captured as CUDA graphs and replayed must give what eager waves
 * give, whoever their members are, and a graph captured with some buffers
 * or workspace must never serve others.
 *
 *   (a) one wave shape run 4 times with the same tenants: eager, then one
 *       miss (captured), then hits, every output bitwise equal to the
 *       eager one; the same shape with other tenants (B, then A again,
 *       then a mix) is a hit too, with only the graph's tables rewritten
 *       (a rebind, never a refresh): each slice gets its own tenant's
 *       output, bitwise equal to an eager run of that very wave (a fresh
 *       executor's first wave) and within 1e-5 of the tenant alone on the
 *       CPU; another row layout of the same plan is another shape; the
 *       successors of released tenants (whose tables often come back at
 *       the same addresses) get their own outputs;
 *   (b) a capture given up at any step (cv_cuda_graph_abort_at, as a
 *       failing step would) runs the wave's journal eagerly, right; the
 *       shape is captured next time and then serves other members;
 *   (c) a workspace regrown by a larger wave (of another executor) drops
 *       the graphs captured with the old one;
 *   (d) a wave with a step that runs on the host stays eager, and right;
 *   (e) 8 tenants x 1 row of a MobileNetV2-like block (1x1 expand, 3x3
 *       depthwise, 1x1 project, residual Add, ReLU6 folded into the convs),
 *       then the same tenants in reverse order: a rebind;
 *   (f) members through every kind of table: a graph with a per-tenant
 *       PRelu slope and BatchNormalization (the kernels' members arrays), a
 *       Gather by constant indices (structure: the executor's copy, not a
 *       tenant's) and a Gemm, in waves of 8 tenants (one launch per step)
 *       and of 70 (more than a kernel's table holds: a launch per slice);
 *       the tenant that was slice 0 at capture is then released, and the
 *       graph still serves the others; once more with rebinds on the host;
 *   (g) single inferences (waves of one slice): another tenant is a
 *       rebind too (GEMMs through pointer tables, not by value);
 *   (h) a graph bound to its members (a MatMul whose first operand is a
 *       weight, which cuBLAS takes by value): other tenants re-capture it
 *       (refreshes), and every output is right;
 *   (i) when ../shared/models (or $CARAVEL_SHARED_DIR) is there, tenants of
 *       MobileNetV2 through the public API: replayed single inferences and
 *       waves match the reference outputs, counted by cv_runtime_stats.
 * Every rebind by the cache's kernel is checked against the words the host
 * would write (cv_cuda_graph_rebind_mode), and counted; (a), (f), (g) and
 * (h) run again with the kernel as a launch of its own
 * (CARAVEL_REBIND=kernel) and with the node reading its members' tables
 * from mapped host memory (CARAVEL_REBIND=mapped); (a), (f), (g) with the
 * graphs launched from the device (CARAVEL_GRAPH_LAUNCH=device: a one-node
 * launcher graph tail-launches them), counted, and (h) there too, whose
 * bound graph must stay launched from the host.
 * Waves of random members in flight on several lanes at once are in
 * test_gpu_sched_runtime.c. Solo outputs come from the CPU backend (each
 * tenant alone); device time of the last wave is reported by the stats.
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
#include "backend/cuda/cuda_internal.h"

#define MAX_SLICES 80

/* The CPU backend (references) for the whole run; a fresh CUDA backend per
 * test, so that its counters start at zero. */
static cv_backend_t *cpu;
static cv_executor_t *cpu_exec;
static cv_backend_t *gpu;
static cv_executor_t *gpu_exec;
/* How the fresh backend rebinds: by the kernel's launch or the graph's
 * rebind node (every such rebind checked against the host's words), or on
 * the host only. */
static cv_cuda_rebind_way_t rebind_way = CV_CUDA_REBIND_NODE;
/* Whether the fresh backend launches its captured graphs from the device. */
static bool device_launch;
/* Slices carry their tenants' serials (cv_wave_slice_t.serial), as the
 * runtime's do; otherwise the cache reads them from the tables. */
static bool carried_identity;

static int setup_group(void **state)
{
    cv_err_t err;
    if (cv_backend_cpu_create(1, &cpu, &err) != CV_STATUS_OK) return -1;
    return cv_exec_create(cpu, &cpu_exec, &err) == CV_STATUS_OK ? 0 : -1;
}

static int teardown_group(void **state)
{
    cv_exec_destroy(cpu_exec);
    cpu->iface->destroy(cpu);
    return 0;
}

static int setup_gpu(void **state)
{
    cv_err_t err;
    if (cv_backend_cuda_create(0, &gpu, &err) != CV_STATUS_OK) {
        fprintf(stderr, "CUDA backend: %s\n", err.msg);
        return -1;
    }
    cv_cuda_graph_rebind_mode((cv_cuda_t *)gpu, rebind_way, rebind_way != CV_CUDA_REBIND_HOST);
    cv_cuda_graph_launch_mode((cv_cuda_t *)gpu, device_launch);
    return cv_exec_create(gpu, &gpu_exec, &err) == CV_STATUS_OK ? 0 : -1;
}

static int teardown_gpu(void **state)
{
    cv_exec_destroy(gpu_exec);
    gpu->iface->destroy(gpu);
    gpu = NULL;
    return 0;
}

static cv_backend_stats_t stats(void)
{
    cv_backend_stats_t s;
    gpu->iface->stats(gpu, &s);
    return s;
}

/* ---- graphs ---------------------------------------------------------------- */

/* Adds a one-output node; returns its output value (and the node in
 * *node_out when asked). */
static int g_node(cv_graph_t *g, cv_op_t op, const int *in, int nin, const char *name, int *node_out)
{
    int n = cv_test_graph_node(g, op, in, nin, name);
    if (node_out) *node_out = n;
    return cv_test_graph_out(g, n);
}

/* A conv; pads of 1 on every side when `pad`, stride 2 when `stride2`. */
static int g_conv(cv_graph_t *g, int x, int w, int b, int group, bool pad, bool stride2, const char *name)
{
    int n;
    int in[3] = {x, w, b};
    int y = g_node(g, CV_OP_CONV, in, b >= 0 ? 3 : 2, name, &n);
    if (group != 1) cv_test_graph_attr_int(g, n, "group", group);
    if (pad) cv_test_graph_attr_ints(g, n, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    if (stride2) cv_test_graph_attr_ints(g, n, "strides", (int64_t[]){2, 2}, 2);
    return y;
}

static void g_finish(cv_graph_t *g, int out)
{
    cv_test_graph_output(g, out);
    cv_test_graph_prepare(g, cv_backend_cpu_ctx(cpu));
}

/* x[N,3,8,8] -> Conv 3x3 pad 1 + bias + Relu -> depthwise 3x3 stride 2 +
 * bias -> Clip(0, 6) -> Conv 1x1 (no bias) -> GlobalAveragePool ->
 * Flatten -> Gemm (transB, bias) -> y[N,5]. */
static cv_graph_t *small_cnn(uint64_t seed)
{
    cv_graph_t *g = cv_test_graph_new("graph-cnn", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 3, 8, 8));
    int w1 = cv_test_graph_weight(g, "w1", CV_TEST_SHAPE(8, 3, 3, 3), seed + 1);
    int b1 = cv_test_graph_weight(g, "b1", CV_TEST_SHAPE(8), seed + 2);
    int c1 = g_conv(g, x, w1, b1, 1, true, false, "c1");
    int r1 = g_node(g, CV_OP_RELU, (int[]){c1}, 1, "r1", NULL);
    int w2 = cv_test_graph_weight(g, "w2", CV_TEST_SHAPE(8, 1, 3, 3), seed + 3);
    int b2 = cv_test_graph_weight(g, "b2", CV_TEST_SHAPE(8), seed + 4);
    int dw = g_conv(g, r1, w2, b2, 8, true, true, "dw");
    int lo = cv_test_graph_const_scalar(g, "lo", 0.0f), hi = cv_test_graph_const_scalar(g, "hi", 6.0f);
    int clip = g_node(g, CV_OP_CLIP, (int[]){dw, lo, hi}, 3, "clip", NULL);
    int w3 = cv_test_graph_weight(g, "w3", CV_TEST_SHAPE(6, 8, 1, 1), seed + 5);
    int pw = g_conv(g, clip, w3, -1, 1, false, false, "pw");
    int pool = g_node(g, CV_OP_GLOBAL_AVERAGE_POOL, (int[]){pw}, 1, "pool", NULL);
    int flat = g_node(g, CV_OP_FLATTEN, (int[]){pool}, 1, "flat", NULL);
    int w4 = cv_test_graph_weight(g, "w4", CV_TEST_SHAPE(5, 6), seed + 6);
    int b4 = cv_test_graph_weight(g, "b4", CV_TEST_SHAPE(5), seed + 7);
    int fc_node;
    int fc = g_node(g, CV_OP_GEMM, (int[]){flat, w4, b4}, 3, "fc", &fc_node);
    cv_test_graph_attr_int(g, fc_node, "transB", 1);
    g_finish(g, fc);
    return g;
}

/* A MobileNetV2 inverted residual and head: x[N,8,8,8] -> Conv 1x1
 * (8->32) + Clip(0,6) -> depthwise 3x3 pad 1 + Clip(0,6) -> Conv 1x1
 * (32->8) -> Add x -> Conv 1x1 (8->16) + Clip -> GlobalAveragePool ->
 * Flatten -> Gemm (transB) -> y[N,4]. */
static cv_graph_t *mobilenet_block(uint64_t seed)
{
    cv_graph_t *g = cv_test_graph_new("graph-mnv2", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 8, 8, 8));
    int lo = cv_test_graph_const_scalar(g, "lo", 0.0f), hi = cv_test_graph_const_scalar(g, "hi", 6.0f);
    int we = cv_test_graph_weight(g, "we", CV_TEST_SHAPE(32, 8, 1, 1), seed + 1);
    int be = cv_test_graph_weight(g, "be", CV_TEST_SHAPE(32), seed + 2);
    int e = g_conv(g, x, we, be, 1, false, false, "expand");
    e = g_node(g, CV_OP_CLIP, (int[]){e, lo, hi}, 3, "expand6", NULL);
    int wd = cv_test_graph_weight(g, "wd", CV_TEST_SHAPE(32, 1, 3, 3), seed + 3);
    int bd = cv_test_graph_weight(g, "bd", CV_TEST_SHAPE(32), seed + 4);
    int d = g_conv(g, e, wd, bd, 32, true, false, "dw");
    d = g_node(g, CV_OP_CLIP, (int[]){d, lo, hi}, 3, "dw6", NULL);
    int wp = cv_test_graph_weight(g, "wp", CV_TEST_SHAPE(8, 32, 1, 1), seed + 5);
    int bp = cv_test_graph_weight(g, "bp", CV_TEST_SHAPE(8), seed + 6);
    int p = g_conv(g, d, wp, bp, 1, false, false, "project");
    int sum = g_node(g, CV_OP_ADD, (int[]){p, x}, 2, "residual", NULL);
    int wh = cv_test_graph_weight(g, "wh", CV_TEST_SHAPE(16, 8, 1, 1), seed + 7);
    int bh = cv_test_graph_weight(g, "bh", CV_TEST_SHAPE(16), seed + 8);
    int h = g_conv(g, sum, wh, bh, 1, false, false, "head");
    h = g_node(g, CV_OP_CLIP, (int[]){h, lo, hi}, 3, "head6", NULL);
    int pool = g_node(g, CV_OP_GLOBAL_AVERAGE_POOL, (int[]){h}, 1, "pool", NULL);
    int flat = g_node(g, CV_OP_FLATTEN, (int[]){pool}, 1, "flat", NULL);
    int wf = cv_test_graph_weight(g, "wf", CV_TEST_SHAPE(4, 16), seed + 9);
    int bf = cv_test_graph_weight(g, "bf", CV_TEST_SHAPE(4), seed + 10);
    int fc_node;
    int fc = g_node(g, CV_OP_GEMM, (int[]){flat, wf, bf}, 3, "fc", &fc_node);
    cv_test_graph_attr_int(g, fc_node, "transB", 1);
    g_finish(g, fc);
    return g;
}

/* A MatMul by a weight with batch dims: no CUDA path in a wave of several
 * tenants, so it runs on the host. */
static cv_graph_t *host_matmul(uint64_t seed)
{
    cv_graph_t *g = cv_test_graph_new("graph-host", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 2, 3, 4));
    int w = cv_test_graph_weight(g, "w", CV_TEST_SHAPE(2, 4, 5), seed);
    int y = g_node(g, CV_OP_MATMUL, (int[]){x, w}, 2, "y", NULL);
    g_finish(g, y);
    return g;
}

/* Per-tenant parameters in every kind of table: x[N,3,8,8] -> Conv 3x3
 * pad 1 + bias -> PRelu (slope [8,1,1]) -> BatchNormalization (after the
 * PRelu, so not folded into the Conv) -> GlobalAveragePool -> Flatten ->
 * Gather axis 1 by constant INT64 indices (structure, the same for every
 * tenant) -> Gemm (transB, bias) -> y[N,5]. */
static cv_graph_t *tables_cnn(uint64_t seed)
{
    cv_graph_t *g = cv_test_graph_new("graph-tables", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 3, 8, 8));
    int w1 = cv_test_graph_weight(g, "w1", CV_TEST_SHAPE(8, 3, 3, 3), seed + 1);
    int b1 = cv_test_graph_weight(g, "b1", CV_TEST_SHAPE(8), seed + 2);
    int c1 = g_conv(g, x, w1, b1, 1, true, false, "c1");
    int slope = cv_test_graph_weight(g, "slope", CV_TEST_SHAPE(8, 1, 1), seed + 3);
    int pr = g_node(g, CV_OP_PRELU, (int[]){c1, slope}, 2, "prelu", NULL);
    int scale = cv_test_graph_weight(g, "scale", CV_TEST_SHAPE(8), seed + 4);
    int bias = cv_test_graph_weight(g, "bias", CV_TEST_SHAPE(8), seed + 5);
    int mean = cv_test_graph_weight(g, "mean", CV_TEST_SHAPE(8), seed + 6);
    int var = cv_test_graph_const(g, "var", cv_test_positive(CV_TEST_SHAPE(8), seed + 7), true);
    int bn = g_node(g, CV_OP_BATCH_NORMALIZATION, (int[]){pr, scale, bias, mean, var}, 5, "bn", NULL);
    int pool = g_node(g, CV_OP_GLOBAL_AVERAGE_POOL, (int[]){bn}, 1, "pool", NULL);
    int flat = g_node(g, CV_OP_FLATTEN, (int[]){pool}, 1, "flat", NULL);
    int idx = cv_test_graph_const_ints(g, "idx", (const int64_t[]){7, 0, 5, 2, 1, 6, 3, 4}, 8);
    int gather_node;
    int gathered = g_node(g, CV_OP_GATHER, (int[]){flat, idx}, 2, "gather", &gather_node);
    cv_test_graph_attr_int(g, gather_node, "axis", 1);
    int w4 = cv_test_graph_weight(g, "w4", CV_TEST_SHAPE(5, 8), seed + 8);
    int b4 = cv_test_graph_weight(g, "b4", CV_TEST_SHAPE(5), seed + 9);
    int fc_node;
    int fc = g_node(g, CV_OP_GEMM, (int[]){gathered, w4, b4}, 3, "fc", &fc_node);
    cv_test_graph_attr_int(g, fc_node, "transB", 1);
    g_finish(g, fc);
    return g;
}

/* y[N,2,4] = W[2,3] x x[N,3,4]: the weight is MatMul's first operand,
 * which the GEMM of a one-slice wave takes by value, so that a graph of
 * it is bound to its tenant. */
static cv_graph_t *weight_first_matmul(uint64_t seed)
{
    cv_graph_t *g = cv_test_graph_new("graph-bound", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 3, 4));
    int w = cv_test_graph_weight(g, "w", CV_TEST_SHAPE(2, 3), seed);
    int y = g_node(g, CV_OP_MATMUL, (int[]){w, x}, 2, "y", NULL);
    g_finish(g, y);
    return g;
}

/* ---- tenants and waves ------------------------------------------------------ */

typedef struct tenant {
    cv_graph_t *graph;
    void **gpu_table, **cpu_table;
} tenant_t;

static tenant_t tenant_load(cv_graph_t *(*build)(uint64_t), uint64_t seed)
{
    tenant_t t = {.graph = build(seed)};
    t.gpu_table = cv_test_tenant_upload(gpu, t.graph, CV_PRECISION_FP32);
    t.cpu_table = cv_test_tenant_upload(cpu, t.graph, CV_PRECISION_FP32);
    return t;
}

static void tenant_free(tenant_t *t)
{
    gpu->iface->tenant_release(gpu, t->graph, t->gpu_table);
    cpu->iface->tenant_release(cpu, t->graph, t->cpu_table);
    cv_graph_destroy(t->graph);
    memset(t, 0, sizeof(*t));
}

static cv_plan_t *plan_for(const cv_graph_t *g, int64_t rows)
{
    return cv_test_plan_rows(g, rows, cv_backend_cpu_ctx(cpu));
}

/* As the runtime frees a plan: the cache lets go of its shapes first. */
static void plan_free(cv_plan_t *plan)
{
    gpu->iface->forget(gpu, plan);
    cv_plan_destroy(plan);
}

/* Input of `rows` rows for graph g (seeded). */
static cv_tensor_t make_input(const cv_graph_t *g, int64_t rows, uint64_t seed)
{
    cv_shape_t s = g->values[g->inputs[0]].shape;
    s.dims[0] = rows;
    cv_tensor_t x;
    assert_int_equal(cv_tensor_alloc(&x, CV_DTYPE_FP32, &s), CV_STATUS_OK);
    cv_test_fill_random(&x, seed);
    return x;
}

/* Runs one wave of `plan` on a backend: slice s is tenant ts[s] with input
 * xs[s]; outs[s] receives its output (allocated here). */
static void run_wave(cv_executor_t *ex, bool on_gpu, const cv_plan_t *plan, tenant_t *const *ts,
                     const cv_tensor_t *xs, int nslices, cv_tensor_t *outs)
{
    CV_ASSERT(nslices <= MAX_SLICES);
    cv_wave_slice_t slices[MAX_SLICES];
    const cv_tensor_t *ins[MAX_SLICES];
    cv_tensor_t *out_ptrs[MAX_SLICES];
    const cv_plan_value_t *pv = &plan->values[plan->graph->outputs[0]];
    int64_t row = 0;
    for (int s = 0; s < nslices; s++) {
        int64_t rows = xs[s].shape.dims[0];
        slices[s] = (cv_wave_slice_t){.row0 = row, .rows = rows,
                                      .constants = on_gpu ? ts[s]->gpu_table : ts[s]->cpu_table};
        /* As the runtime's slices do (carried_identity): the cache reads
         * the tenant's serial from the slice, not from its table. */
        if (on_gpu && carried_identity) {
            gpu->iface->tenant_identity(gpu, ts[s]->graph, ts[s]->gpu_table, &slices[s].serial, &slices[s].may_share);
            assert_true(slices[s].serial != 0);
        }
        cv_shape_t os = pv->shape;
        os.dims[0] = pv->shape.dims[0] / plan->rows * rows;
        assert_int_equal(cv_tensor_alloc(&outs[s], pv->dtype, &os), CV_STATUS_OK);
        ins[s] = &xs[s];
        out_ptrs[s] = &outs[s];
        row += rows;
    }
    assert_int_equal(row, plan->rows);
    cv_err_t err;
    cv_status st = cv_exec_wave(ex, plan, slices, nslices, CV_PRECISION_FP32, ins, out_ptrs, &err);
    if (st != CV_STATUS_OK) fail_msg("%s wave: %s", on_gpu ? "CUDA" : "CPU", err.msg);
}

/* Tenant t alone on the CPU backend. */
static cv_tensor_t solo(tenant_t *t, const cv_tensor_t *x)
{
    cv_plan_t *plan = plan_for(t->graph, x->shape.dims[0]);
    cv_tensor_t out;
    run_wave(cpu_exec, false, plan, (tenant_t *[]){t}, x, 1, &out);
    cv_plan_destroy(plan);
    return out;
}

static void free_all(cv_tensor_t *ts, int n)
{
    for (int i = 0; i < n; i++) cv_tensor_free(&ts[i]);
}

/* Runs a wave on the GPU and checks every slice against its tenant alone
 * on the CPU; `then` (optional) receives the outputs, else they are freed.
 * Returns the largest relative difference. */
static double gpu_wave_checked(const cv_plan_t *plan, tenant_t *const *ts, const cv_tensor_t *xs, int nslices,
                               cv_tensor_t *then)
{
    cv_tensor_t outs[MAX_SLICES];
    run_wave(gpu_exec, true, plan, ts, xs, nslices, outs);
    double worst = 0;
    for (int s = 0; s < nslices; s++) {
        cv_tensor_t ref = solo(ts[s], &xs[s]);
        double d = cv_test_rel_diff(&outs[s], &ref);
        worst = fmax(worst, d);
        if (!(d <= 1e-5)) fail_msg("slice %d differs from its tenant alone: rel diff %g", s, d);
        cv_tensor_free(&ref);
    }
    if (then) memcpy(then, outs, sizeof(cv_tensor_t) * (size_t)nslices);
    else free_all(outs, nslices);
    return worst;
}

static void expect_counts(long misses, long hits, long refreshes)
{
    cv_backend_stats_t s = stats();
    if (s.graph_misses != misses || s.graph_hits != hits || s.graph_refreshes != refreshes)
        fail_msg("graph cache: %ld misses, %ld hits, %ld refreshes; expected %ld, %ld, %ld", s.graph_misses,
                 s.graph_hits, s.graph_refreshes, misses, hits, refreshes);
}

/* Also: every rebind was done on the device, by the kernel's launch or
 * the graph's node (waves here are narrower than its parameters' 448
 * slices), each one's words equal to the host's; or, rebinding on the
 * host, none was. */
static void expect_rebinds(long rebinds)
{
    cv_backend_stats_t s = stats();
    if (s.graph_rebinds != rebinds) fail_msg("graph cache: %ld rebinds, expected %ld", s.graph_rebinds, rebinds);
    long on_device, mismatches;
    cv_cuda_graph_rebind_counts((const cv_cuda_t *)gpu, &on_device, &mismatches);
    bool on_host = rebind_way == CV_CUDA_REBIND_HOST;
    if (on_device != (on_host ? 0 : rebinds))
        fail_msg("graph cache: %ld rebinds by the kernel of %ld (rebinding on the %s)", on_device, rebinds,
                 on_host ? "host" : "device");
    if (mismatches) fail_msg("graph cache: %ld words of the rebind kernel differ from the host's", mismatches);
}

static bool bitwise_equal(const cv_tensor_t *a, const cv_tensor_t *b)
{
    return cv_tensor_nbytes(a) == cv_tensor_nbytes(b) && memcmp(a->data, b->data, cv_tensor_nbytes(a)) == 0;
}

/* The same wave as the eager first wave of its shape: on a fresh executor
 * (its buffer is part of the key), destroyed after, so that the shape goes
 * with it. The cache's counters do not move. */
static void eager_wave(const cv_plan_t *plan, tenant_t *const *ts, const cv_tensor_t *xs, int nslices,
                       cv_tensor_t *outs)
{
    cv_backend_stats_t before = stats();
    cv_executor_t *fresh;
    cv_err_t err;
    assert_int_equal(cv_exec_create(gpu, &fresh, &err), CV_STATUS_OK);
    run_wave(fresh, true, plan, ts, xs, nslices, outs);
    cv_exec_destroy(fresh);
    cv_backend_stats_t after = stats();
    assert_int_equal(after.graph_hits, before.graph_hits);
    assert_int_equal(after.graph_misses, before.graph_misses);
    assert_int_equal(after.graph_refreshes, before.graph_refreshes);
}

/* A wave on the main executor, checked slice by slice against its tenant
 * alone on the CPU (gpu_wave_checked) and bitwise against eager_wave of
 * the same members and inputs. */
static void members_wave(const cv_plan_t *plan, tenant_t *const *ts, const cv_tensor_t *xs, int nslices,
                         const char *what)
{
    cv_tensor_t *outs = calloc((size_t)nslices, sizeof(cv_tensor_t));
    cv_tensor_t *eager = calloc((size_t)nslices, sizeof(cv_tensor_t));
    assert_true(outs && eager);
    gpu_wave_checked(plan, ts, xs, nslices, outs);
    eager_wave(plan, ts, xs, nslices, eager);
    for (int s = 0; s < nslices; s++)
        if (!bitwise_equal(&outs[s], &eager[s]))
            fail_msg("%s: slice %d differs from an eager run of the same wave by %g", what, s,
                     cv_test_rel_diff(&outs[s], &eager[s]));
    free_all(outs, nslices);
    free_all(eager, nslices);
    free(outs);
    free(eager);
}

/* ---- (a) replays, other members, other shapes ---------------------------------- */

static void test_replay_and_members(void **state)
{
    enum { R = 3 };
    tenant_t a[R], b[R];
    tenant_t *ta[R], *tb[R];
    for (int i = 0; i < R; i++) {
        a[i] = tenant_load(small_cnn, 100 * (uint64_t)(i + 1));
        b[i] = tenant_load(small_cnn, 5000 + 100 * (uint64_t)(i + 1));
        ta[i] = &a[i];
        tb[i] = &b[i];
    }
    cv_tensor_t xs[R];
    for (int s = 0; s < R; s++) xs[s] = make_input(a[0].graph, s + 1, 40 + (uint64_t)s);
    cv_plan_t *plan = plan_for(a[0].graph, 6);
    assert_true(plan->stackable);

    /* The same tenants 4 times: eager, miss, hit, hit; all bitwise alike:
     * the eager wave already reads weights through the tables a capture
     * reads. */
    cv_tensor_t first[R], again[R];
    gpu_wave_checked(plan, ta, xs, R, first);
    expect_counts(0, 0, 0);
    assert_true(stats().last_wave_device_ms > 0);
    for (int run = 2; run <= 4; run++) {
        gpu_wave_checked(plan, ta, xs, R, again);
        for (int s = 0; s < R; s++)
            if (!bitwise_equal(&again[s], &first[s]))
                fail_msg("run %d, slice %d: differs from the eager wave by %g", run, s,
                         cv_test_rel_diff(&again[s], &first[s]));
        free_all(again, R);
        expect_counts(1, run - 2, 0);
        assert_true(stats().last_wave_device_ms > 0);
    }
    expect_rebinds(0);
    printf("  eager, miss, 2 hits: replays bitwise equal to the eager wave; last wave %.3f ms on the device\n",
           stats().last_wave_device_ms);

    /* Other tenants, same shape: a hit that rewrites the graph's tables,
     * and their own outputs, which stale tables (the first tenants') would
     * not give. Then the first ones back, then a mix: hits again. */
    cv_tensor_t other[R];
    gpu_wave_checked(plan, tb, xs, R, other);
    expect_counts(1, 3, 0);
    expect_rebinds(1);
    for (int s = 0; s < R; s++) assert_true(cv_test_rel_diff(&other[s], &first[s]) > 1e-3);
    free_all(other, R);
    members_wave(plan, tb, xs, R, "B again");
    expect_counts(1, 4, 0);
    expect_rebinds(1);
    members_wave(plan, ta, xs, R, "A after B");
    expect_counts(1, 5, 0);
    expect_rebinds(2);
    tenant_t *mixed[R] = {&b[0], &a[1], &b[2]};
    members_wave(plan, mixed, xs, R, "a mix of A and B");
    expect_counts(1, 6, 0);
    expect_rebinds(3);
    gpu_wave_checked(plan, ta, xs, R, again);
    expect_counts(1, 7, 0);
    expect_rebinds(4);
    for (int s = 0; s < R; s++) assert_true(bitwise_equal(&again[s], &first[s]));
    free_all(again, R);
    printf("  A, B, B, A, mixed, A: one capture, every later wave a hit, bitwise equal to its eager run\n");

    /* The same plan cut into other slices (2+2+2 rows) is another shape:
     * eager, then a miss; per-row tables follow the new cut. */
    cv_tensor_t even[R];
    for (int s = 0; s < R; s++) even[s] = make_input(a[0].graph, 2, 70 + (uint64_t)s);
    gpu_wave_checked(plan, ta, even, R, NULL);
    expect_counts(1, 7, 0);
    gpu_wave_checked(plan, ta, even, R, NULL);
    expect_counts(2, 7, 0);
    members_wave(plan, tb, even, R, "B in the 2+2+2 shape");
    expect_counts(2, 8, 0);
    /* New inputs into a cached wave: replays read the buffer, not copies. */
    cv_tensor_t fresh[R];
    for (int s = 0; s < R; s++) fresh[s] = make_input(a[0].graph, 2, 90 + (uint64_t)s);
    gpu_wave_checked(plan, tb, fresh, R, NULL);
    expect_counts(2, 9, 0);

    /* Released tenants: their successors' tables often come back at the
     * same addresses; the serials tell them apart, and the successors get
     * their own outputs from a rebind. */
    members_wave(plan, tb, xs, R, "B before its release");
    long hits = stats().graph_hits, rebinds = stats().graph_rebinds;
    for (int i = 0; i < R; i++) {
        tenant_free(&b[i]);
        b[i] = tenant_load(small_cnn, 9000 + 100 * (uint64_t)(i + 1));
    }
    members_wave(plan, tb, xs, R, "successors of released tenants");
    assert_int_equal(stats().graph_hits, hits + 1);
    assert_int_equal(stats().graph_rebinds, rebinds + 1);
    expect_counts(2, hits + 1, 0);

    free_all(first, R);
    free_all(xs, R);
    free_all(even, R);
    free_all(fresh, R);
    cv_plan_destroy(plan);
    for (int i = 0; i < R; i++) {
        tenant_free(&a[i]);
        tenant_free(&b[i]);
    }
}

/* ---- (b) a capture given up ------------------------------------------------------ */

/* For every step k of the plan: a capture given up before step k runs
 * (the journal then runs steps 0..k eagerly and the rest follow eagerly);
 * the shape is captured at its next wave, and then serves other tenants.
 * A new plan for each k: a shape given up MAX_ABORTS times stays eager. */
static void test_capture_given_up(void **state)
{
    tenant_t a = tenant_load(small_cnn, 300), b = tenant_load(small_cnn, 700);
    cv_tensor_t xs[2] = {make_input(a.graph, 1, 11), make_input(a.graph, 2, 12)};
    tenant_t *pair[2] = {&a, &b}, *swapped[2] = {&b, &a};
    cv_plan_t *probe = plan_for(a.graph, 3);
    int nsteps = probe->nsteps;
    cv_plan_destroy(probe);
    assert_true(nsteps >= 3);
    cv_cuda_t *cuda = (cv_cuda_t *)gpu;
    for (int k = 0; k < nsteps; k++) {
        cv_plan_t *plan = plan_for(a.graph, 3);
        cv_backend_stats_t s0 = stats();
        long aborts = cv_cuda_graph_aborts(cuda);
        gpu_wave_checked(plan, pair, xs, 2, NULL); /* eager */
        cv_cuda_graph_abort_at(cuda, k);
        members_wave(plan, pair, xs, 2, "a capture given up");
        assert_int_equal(cv_cuda_graph_aborts(cuda), aborts + 1);
        expect_counts(s0.graph_misses, s0.graph_hits, 0);
        gpu_wave_checked(plan, pair, xs, 2, NULL); /* captured */
        expect_counts(s0.graph_misses + 1, s0.graph_hits, 0);
        members_wave(plan, swapped, xs, 2, "other members after a capture given up");
        expect_counts(s0.graph_misses + 1, s0.graph_hits + 1, 0);
        assert_int_equal(cv_cuda_graph_aborts(cuda), aborts + 1);
        plan_free(plan);
    }
    printf("  captures given up at each of %d steps: eager and right, then captured and replayed\n", nsteps);
    free_all(xs, 2);
    tenant_free(&a);
    tenant_free(&b);
}

/* ---- (c) workspace regrowth ------------------------------------------------------ */

static void test_workspace_regrowth(void **state)
{
    tenant_t a = tenant_load(small_cnn, 400), b = tenant_load(small_cnn, 800);
    tenant_t *pair[2] = {&a, &b};
    cv_tensor_t small[2] = {make_input(a.graph, 1, 21), make_input(a.graph, 2, 22)};
    cv_plan_t *small_plan = plan_for(a.graph, 3);
    for (int i = 0; i < 3; i++) gpu_wave_checked(small_plan, pair, small, 2, NULL);
    expect_counts(1, 1, 0);
    const cv_cuda_t *cuda = (const cv_cuda_t *)gpu;
    const void *ws = cuda->workspace;
    size_t ws_bytes = cuda->workspace_bytes;
    /* 512 rows of im2col columns need a larger workspace. They run on a
     * second executor: a regrown buffer of the first would drop the small
     * shape anyway (the buffer is part of its key). */
    cv_tensor_t large[2] = {make_input(a.graph, 256, 23), make_input(a.graph, 256, 24)};
    cv_plan_t *large_plan = plan_for(a.graph, 512);
    cv_executor_t *main_exec = gpu_exec, *other_exec;
    cv_err_t err;
    assert_int_equal(cv_exec_create(gpu, &other_exec, &err), CV_STATUS_OK);
    gpu_exec = other_exec;
    gpu_wave_checked(large_plan, pair, large, 2, NULL);
    gpu_exec = main_exec;
    cv_exec_destroy(other_exec);
    assert_true(cuda->workspace_bytes > ws_bytes);
    printf("  workspace %zu -> %zu bytes (%s address)\n", ws_bytes, cuda->workspace_bytes,
           cuda->workspace == ws ? "same" : "new");
    /* The small shape's graph read the old workspace: captured again. */
    gpu_wave_checked(small_plan, pair, small, 2, NULL);
    expect_counts(2, 1, 0);
    gpu_wave_checked(small_plan, pair, small, 2, NULL);
    expect_counts(2, 2, 0);
    free_all(small, 2);
    free_all(large, 2);
    cv_plan_destroy(small_plan);
    cv_plan_destroy(large_plan);
    tenant_free(&a);
    tenant_free(&b);
}

/* ---- (d) host steps ------------------------------------------------------------ */

static void test_host_steps_stay_eager(void **state)
{
    tenant_t t[3];
    tenant_t *ts[3];
    cv_tensor_t xs[3];
    for (int i = 0; i < 3; i++) {
        t[i] = tenant_load(host_matmul, 60 + (uint64_t)i);
        ts[i] = &t[i];
        xs[i] = make_input(t[i].graph, i + 1, 30 + (uint64_t)i);
    }
    cv_plan_t *plan = plan_for(t[0].graph, 6);
    assert_true(plan->stackable);
    for (int run = 1; run <= 3; run++) {
        gpu_wave_checked(plan, ts, xs, 3, NULL);
        assert_int_equal(stats().fallback_steps, run);
        expect_counts(0, 0, 0);
    }
    assert_int_equal(cv_cuda_graph_aborts((const cv_cuda_t *)gpu), 0);
    free_all(xs, 3);
    cv_plan_destroy(plan);
    for (int i = 0; i < 3; i++) tenant_free(&t[i]);
}

/* ---- (e) a MobileNetV2-like block, 8 tenants x 1 row ------------------------------- */

static void test_mobilenet_block_8x1(void **state)
{
    enum { R = 8 };
    tenant_t t[R];
    tenant_t *ts[R], *reversed[R];
    cv_tensor_t xs[R];
    for (int i = 0; i < R; i++) {
        t[i] = tenant_load(mobilenet_block, 1000 * (uint64_t)(i + 1));
        ts[i] = &t[i];
        reversed[R - 1 - i] = &t[i];
        xs[i] = make_input(t[i].graph, 1, 50 + (uint64_t)i);
    }
    cv_plan_t *plan = plan_for(t[0].graph, R);
    assert_true(plan->stackable);
    cv_tensor_t first[R], again[R];
    double d_first = gpu_wave_checked(plan, ts, xs, R, first);
    double d_replay = 0;
    for (int run = 2; run <= 4; run++) {
        d_replay = fmax(d_replay, gpu_wave_checked(plan, ts, xs, R, again));
        for (int s = 0; s < R; s++) assert_true(cv_test_rel_diff(&again[s], &first[s]) <= 1e-6);
        free_all(again, R);
    }
    expect_counts(1, 2, 0);
    double ms = stats().last_wave_device_ms;
    assert_true(ms > 0);
    /* The tenants in reverse order: a hit, each slice with its new
     * tenant's weights. */
    gpu_wave_checked(plan, reversed, xs, R, again);
    expect_counts(1, 3, 0);
    expect_rebinds(1);
    assert_true(cv_test_rel_diff(&again[0], &first[0]) > 1e-3);
    free_all(again, R);
    members_wave(plan, ts, xs, R, "8 x 1 row, back in order");
    expect_counts(1, 4, 0);
    expect_rebinds(2);
    printf("  8 x 1 row: eager vs CPU %.2e, replays vs CPU %.2e, replay %.3f ms on the device\n", d_first, d_replay, ms);
    free_all(first, R);
    free_all(xs, R);
    cv_plan_destroy(plan);
    for (int i = 0; i < R; i++) tenant_free(&t[i]);
}

/* ---- (f) members through every kind of table ------------------------------------ */

/* Waves of R tenants x 1 row of tables_cnn drawn from 2R: A, A, A, B, A,
 * then a mix; every one right and bitwise equal to its eager run, one
 * capture for all. Then the tenant that was slice 0 when the graph was
 * captured is released: the graph read nothing of it but its weights. */
static void run_members_tables(int R)
{
    CV_ASSERT(R <= MAX_SLICES);
    tenant_t *t = calloc(2 * (size_t)R, sizeof(tenant_t));
    tenant_t **ta = calloc((size_t)R, sizeof(tenant_t *)), **tb = calloc((size_t)R, sizeof(tenant_t *));
    tenant_t **mixed = calloc((size_t)R, sizeof(tenant_t *)), **rest = calloc((size_t)R, sizeof(tenant_t *));
    cv_tensor_t *xs = calloc((size_t)R, sizeof(cv_tensor_t));
    assert_true(t && ta && tb && mixed && rest && xs);
    for (int i = 0; i < 2 * R; i++) t[i] = tenant_load(tables_cnn, 10000 + 100 * (uint64_t)i);
    for (int i = 0; i < R; i++) {
        ta[i] = &t[i];
        tb[i] = &t[R + i];
        mixed[i] = &t[(i * 11 + 3) % (2 * R)]; /* 11 is prime to 16 and 140: all distinct */
        xs[i] = make_input(t[0].graph, 1, 500 + (uint64_t)i);
    }
    /* The plan reads its graph: take it from a tenant that stays loaded
     * (t[0] is released below; t[2R - 1] is never a member). */
    cv_plan_t *plan = plan_for(t[2 * R - 1].graph, R);
    assert_true(plan->stackable);
    gpu_wave_checked(plan, ta, xs, R, NULL);
    gpu_wave_checked(plan, ta, xs, R, NULL);
    expect_counts(1, 0, 0);
    members_wave(plan, ta, xs, R, "tables, the same members");
    members_wave(plan, tb, xs, R, "tables, other members");
    members_wave(plan, ta, xs, R, "tables, the first members again");
    members_wave(plan, mixed, xs, R, "tables, mixed members");
    expect_counts(1, 4, 0);
    expect_rebinds(3);
    /* Slice 0 at capture was ta[0]: release it, run without it. */
    tenant_free(&t[0]);
    for (int i = 0; i < R; i++) rest[i] = &t[1 + i];
    members_wave(plan, rest, xs, R, "tables, after slice 0's tenant at capture was released");
    expect_counts(1, 5, 0);
    expect_rebinds(4);
    printf("  %d tenants x 1 row through PRelu, BatchNormalization, Gather and Gemm tables: 1 capture, %ld hits "
           "(%ld with other members)\n", R, stats().graph_hits, stats().graph_rebinds);
    free_all(xs, R);
    plan_free(plan);
    for (int i = 1; i < 2 * R; i++) tenant_free(&t[i]);
    free(t);
    free(ta);
    free(tb);
    free(mixed);
    free(rest);
    free(xs);
}

/* One launch per step: the kernels' members arrays hold every slice. */
static void test_members_tables_8(void **state) { run_members_tables(8); }
/* More slices than a kernel's table holds: PRelu and BatchNormalization
 * launch once per slice, each with a members array of one. */
static void test_members_tables_70(void **state) { run_members_tables(70); }
/* The rebind kernel's three sizes of parameters: 8 and 70 slices above,
 * 40 here. */
static void test_members_tables_40(void **state) { run_members_tables(40); }
/* The same with rebinds on the host (the rebind kernel's reference, and
 * the way of waves too wide for it): outputs as right. */
static int setup_host_rebinds(void **state)
{
    rebind_way = CV_CUDA_REBIND_HOST;
    return setup_gpu(state);
}
/* The same with the rebind kernel as a launch of its own before the
 * graph's (CARAVEL_REBIND=kernel; the default makes it the graph's first
 * node): every rebind checked after its graph ran. */
static int setup_kernel_rebinds(void **state)
{
    rebind_way = CV_CUDA_REBIND_KERNEL;
    return setup_gpu(state);
}
/* The same with the node reading its members' tables from mapped host
 * memory (CARAVEL_REBIND=mapped: a rebind makes no CUDA call): every
 * rebind checked after its graph ran. */
/* The same with every slice carrying its tenant's serial and sharing
 * flag, as the runtime's do (cv_wave_slice_t.serial): the same hits,
 * rebinds and outputs as the slices that leave the cache to read them
 * from the tenants' tables. */
static int setup_carried_identity(void **state)
{
    rebind_way = CV_CUDA_REBIND_MAPPED;
    carried_identity = true;
    return setup_gpu(state);
}
static int teardown_carried_identity(void **state)
{
    carried_identity = false;
    rebind_way = CV_CUDA_REBIND_NODE;
    return teardown_gpu(state);
}

static int setup_mapped_rebinds(void **state)
{
    rebind_way = CV_CUDA_REBIND_MAPPED;
    return setup_gpu(state);
}
static int teardown_other_rebinds(void **state)
{
    rebind_way = CV_CUDA_REBIND_NODE;
    return teardown_gpu(state);
}

/* The same with the graphs launched from the device (the mapped node is
 * what lets them be): every wave of a cached shape so launched, none
 * refused, outputs as right. */
static int setup_device_launch(void **state)
{
    rebind_way = CV_CUDA_REBIND_MAPPED;
    device_launch = true;
    return setup_gpu(state);
}
static int teardown_device_launch(void **state)
{
    device_launch = false;
    return teardown_other_rebinds(state);
}
static void device_launch_counts(long *launched, long *refused)
{
    cv_cuda_graph_launch_counts((cv_cuda_t *)gpu, launched, refused);
    printf("  launched from the device: %ld waves; captures the driver refused it: %ld\n", *launched, *refused);
}
static void expect_device_launches(void)
{
    long launched, refused;
    device_launch_counts(&launched, &refused);
    assert_int_equal(refused, 0);
    assert_int_equal(launched, stats().graph_hits + stats().graph_misses);
}
static void test_single_slice_members(void **state);
static void test_bound_graph_refreshes(void **state);
static void test_device_launch_replay(void **state)
{
    test_replay_and_members(state);
    expect_device_launches();
}
static void test_device_launch_members_8(void **state)
{
    run_members_tables(8);
    expect_device_launches();
}
static void test_device_launch_members_70(void **state)
{
    run_members_tables(70);
    expect_device_launches();
}
static void test_device_launch_single(void **state)
{
    test_single_slice_members(state);
    expect_device_launches();
}
/* A bound graph is refreshed by update, which a device-launched graph
 * would have to follow with an upload: it stays launched from the host. */
static void test_device_launch_bound(void **state)
{
    test_bound_graph_refreshes(state);
    long launched, refused;
    device_launch_counts(&launched, &refused);
    assert_int_equal(launched, 0);
    assert_int_equal(refused, 0);
}

/* ---- (g) single inferences ---------------------------------------------------------- */

static void test_single_slice_members(void **state)
{
    tenant_t a = tenant_load(small_cnn, 21), b = tenant_load(small_cnn, 22);
    cv_tensor_t x = make_input(a.graph, 2, 23);
    cv_plan_t *plan = plan_for(a.graph, 2);
    tenant_t *ta[1] = {&a}, *tb[1] = {&b};
    gpu_wave_checked(plan, ta, &x, 1, NULL);
    gpu_wave_checked(plan, ta, &x, 1, NULL);
    members_wave(plan, ta, &x, 1, "one slice, the same tenant");
    expect_counts(1, 1, 0);
    members_wave(plan, tb, &x, 1, "one slice, another tenant");
    members_wave(plan, ta, &x, 1, "one slice, the first tenant again");
    expect_counts(1, 3, 0);
    expect_rebinds(2);
    cv_tensor_free(&x);
    plan_free(plan);
    tenant_free(&a);
    tenant_free(&b);
}

/* The executor tells which waves paid their shape's one-off costs (the
 * eager wave that sizes the capture, the capture), which the runtime keeps
 * out of its latency model: the first two of a shape, then none; never
 * on the CPU. */
static void test_first_waves_marked(void **state)
{
    tenant_t a = tenant_load(small_cnn, 41), b = tenant_load(small_cnn, 42);
    cv_tensor_t xs[2] = {make_input(a.graph, 1, 43), make_input(a.graph, 1, 44)};
    cv_plan_t *plan = plan_for(a.graph, 2);
    tenant_t *ab[2] = {&a, &b}, *ba[2] = {&b, &a};
    gpu_wave_checked(plan, ab, xs, 2, NULL);
    assert_true(cv_exec_last_wave_first(gpu_exec)); /* sizes the capture */
    gpu_wave_checked(plan, ab, xs, 2, NULL);
    assert_true(cv_exec_last_wave_first(gpu_exec)); /* the capture */
    expect_counts(1, 0, 0);
    gpu_wave_checked(plan, ab, xs, 2, NULL);
    assert_false(cv_exec_last_wave_first(gpu_exec)); /* replayed */
    gpu_wave_checked(plan, ba, xs, 2, NULL);
    assert_false(cv_exec_last_wave_first(gpu_exec)); /* replayed with other members */
    expect_counts(1, 2, 0);
    assert_false(cv_exec_last_wave_first(cpu_exec)); /* the references' waves */
    free_all(xs, 2);
    plan_free(plan);
    tenant_free(&a);
    tenant_free(&b);
}

/* ---- (h) a graph bound to its members -------------------------------------------- */

static void test_bound_graph_refreshes(void **state)
{
    tenant_t a = tenant_load(weight_first_matmul, 31), b = tenant_load(weight_first_matmul, 32);
    cv_tensor_t x = make_input(a.graph, 1, 33);
    cv_plan_t *plan = plan_for(a.graph, 1);
    tenant_t *ta[1] = {&a}, *tb[1] = {&b};
    cv_tensor_t first, out;
    gpu_wave_checked(plan, ta, &x, 1, &first);
    gpu_wave_checked(plan, ta, &x, 1, NULL);
    gpu_wave_checked(plan, ta, &x, 1, NULL);
    expect_counts(1, 1, 0);
    /* Another tenant: captured again, its own output. */
    gpu_wave_checked(plan, tb, &x, 1, &out);
    expect_counts(1, 1, 1);
    assert_true(cv_test_rel_diff(&out, &first) > 1e-3);
    cv_tensor_free(&out);
    gpu_wave_checked(plan, tb, &x, 1, NULL);
    expect_counts(1, 2, 1);
    gpu_wave_checked(plan, ta, &x, 1, &out);
    expect_counts(1, 2, 2);
    assert_true(bitwise_equal(&out, &first));
    expect_rebinds(0);
    printf("  a weight passed by value binds the graph: other tenants refresh it, right\n");
    cv_tensor_free(&out);
    cv_tensor_free(&first);
    cv_tensor_free(&x);
    plan_free(plan);
    tenant_free(&a);
    tenant_free(&b);
}

/* ---- (i) MobileNetV2 through the public API ------------------------------------ */

static cv_tensor_t read_ref(int set, const char *file)
{
    return cv_test_read_model_pb("mobilenet_v2-seed1", set, file);
}

static cv_runtime_stats_t runtime_stats(cv_runtime_t *rt)
{
    cv_runtime_stats_t s;
    assert_int_equal(cv_runtime_stats(rt, &s), CV_STATUS_OK);
    return s;
}

/* Tenants of ../shared's MobileNetV2 (seed 1): single inferences and waves
 * replayed from the cache match the reference outputs. */
static void test_runtime_mobilenet(void **state)
{
    cv_test_require_model("mobilenet_v2-seed1");
    cv_runtime_t *rt = cv_test_runtime_create(CV_DEVICE_CUDA, 1);
    cv_err_t err;
    cv_tenant_t *m[3];
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        m[i] = cv_test_load_model(rt, name, "mobilenet_v2-seed1", CV_PRECISION_FP32);
    }
    cv_tensor_t in1 = read_ref(0, "input_0.pb"), ref1 = read_ref(0, "output_0.pb");
    cv_tensor_t in3 = read_ref(1, "input_0.pb"), ref3 = read_ref(1, "output_0.pb");
    /* A wave of 3 + 1 + 1 rows, three times (first: it sizes the
     * executor's buffer, which the batch-1 shape below then keeps). */
    double worst = 0;
    for (int run = 1; run <= 3; run++) {
        cv_tensor_t outs[3];
        cv_slice_io_t slices[3] = {{m[0], &in3, &outs[0]}, {m[1], &in1, &outs[1]}, {m[2], &in1, &outs[2]}};
        if (cv_wave_run(rt, slices, 3, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
        worst = fmax(worst, fmax(cv_test_rel_diff(&outs[0], &ref3), fmax(cv_test_rel_diff(&outs[1], &ref1), cv_test_rel_diff(&outs[2], &ref1))));
        free_all(outs, 3);
    }
    cv_runtime_stats_t s = runtime_stats(rt);
    assert_int_equal(s.graph_misses, 1);
    assert_int_equal(s.graph_hits, 1);
    printf("  mobilenet_v2 3 tenants, 5 rows: replayed %.3f ms on the device\n", s.last_wave_device_ms);
    cv_tensor_t first, out;
    assert_int_equal(cv_infer(rt, m[0], &in1, &first, &err), CV_STATUS_OK);
    worst = fmax(worst, cv_test_rel_diff(&first, &ref1));
    for (int run = 2; run <= 4; run++) {
        assert_int_equal(cv_infer(rt, m[0], &in1, &out, &err), CV_STATUS_OK);
        worst = fmax(worst, cv_test_rel_diff(&out, &ref1));
        assert_true(cv_test_rel_diff(&out, &first) <= 1e-6);
        cv_tensor_free(&out);
    }
    s = runtime_stats(rt);
    assert_int_equal(s.graph_misses, 2);
    assert_int_equal(s.graph_hits, 3);
    assert_true(s.last_wave_device_ms > 0);
    printf("  mobilenet_v2 batch 1: replayed %.3f ms on the device\n", s.last_wave_device_ms);
    /* Other tenants in the batch-1 shape: hits with the graph's tables
     * rewritten, never a re-capture. */
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(cv_infer(rt, m[i], &in1, &out, &err), CV_STATUS_OK);
        worst = fmax(worst, cv_test_rel_diff(&out, &ref1));
        cv_tensor_free(&out);
    }
    s = runtime_stats(rt);
    assert_int_equal(s.graph_misses, 2);
    assert_int_equal(s.graph_hits, 5);
    assert_int_equal(s.graph_rebinds, 2);
    assert_int_equal(s.graph_refreshes, 0);
    printf("  mobilenet_v2: every output vs reference within %.2e; %ld steps on the host\n", worst, s.fallback_steps);
    assert_true(worst <= 1e-4);
    cv_tensor_t *all[] = {&in1, &ref1, &in3, &ref3, &first};
    for (size_t i = 0; i < CV_ARRAY_LEN(all); i++) cv_tensor_free(all[i]);
    cv_runtime_destroy(rt);
}

int main(void)
{
    int rc = cv_test_gpu_skip();
    if (rc) return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_and_members, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_capture_given_up, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_workspace_regrowth, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_host_steps_stay_eager, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_mobilenet_block_8x1, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_members_tables_8, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_members_tables_70, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_members_tables_40, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_members_tables_8, setup_host_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_replay_and_members, setup_kernel_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_members_tables_8, setup_kernel_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_members_tables_70, setup_kernel_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_members_tables_40, setup_kernel_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_single_slice_members, setup_kernel_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_bound_graph_refreshes, setup_kernel_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_replay_and_members, setup_mapped_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_members_tables_8, setup_mapped_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_members_tables_70, setup_mapped_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_single_slice_members, setup_mapped_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_bound_graph_refreshes, setup_mapped_rebinds, teardown_other_rebinds),
        cmocka_unit_test_setup_teardown(test_device_launch_replay, setup_device_launch, teardown_device_launch),
        cmocka_unit_test_setup_teardown(test_device_launch_members_8, setup_device_launch, teardown_device_launch),
        cmocka_unit_test_setup_teardown(test_device_launch_members_70, setup_device_launch, teardown_device_launch),
        cmocka_unit_test_setup_teardown(test_device_launch_single, setup_device_launch, teardown_device_launch),
        cmocka_unit_test_setup_teardown(test_device_launch_bound, setup_device_launch, teardown_device_launch),
        cmocka_unit_test_setup_teardown(test_single_slice_members, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_first_waves_marked, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_bound_graph_refreshes, setup_gpu, teardown_gpu),
        cmocka_unit_test_setup_teardown(test_replay_and_members, setup_carried_identity, teardown_carried_identity),
        cmocka_unit_test_setup_teardown(test_members_tables_70, setup_carried_identity, teardown_carried_identity),
        cmocka_unit_test_setup_teardown(test_single_slice_members, setup_carried_identity, teardown_carried_identity),
        cmocka_unit_test(test_runtime_mobilenet),
    };
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}

#else /* !CARAVEL_WITH_CUDA */

int main(void) { return cv_test_gpu_skip(); }

#endif
