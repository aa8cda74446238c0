/*
 * test_wave.c: waves of several tenants of one family give each tenant
 * exactly what it gets alone; plans find what can and cannot be stacked.
 *
 * Graphs are built through the IR API (no files), so these tests need no
 * data; the last test uses the SqueezeNet family of ../shared/models when
 * it is there.
 */
#include "testutil.h"

#include "backend/backend.h"
#include "backend/cpu/cpu.h"
#include "exec/exec.h"
#include "ir/passes.h"

#include <math.h>
#include <string.h>

/* ---- building graphs ---------------------------------------------------- */

static int add_weight(cv_graph_t *g, const char *name, cv_shape_t shape, uint64_t seed)
{
    cv_tensor_t *t = cv_tensor_new(CV_DTYPE_FP32, &shape);
    assert_non_null(t);
    cv_test_fill_random(t, seed);
    return cv_graph_add_constant(g, name, t, true);
}

static int add_ints(cv_graph_t *g, const char *name, const int64_t *v, int n)
{
    cv_shape_t s = {.ndim = 1, .dims = {n}};
    cv_tensor_t *t = cv_tensor_new(CV_DTYPE_INT64, &s);
    assert_non_null(t);
    memcpy(t->data, v, sizeof(int64_t) * (size_t)n);
    return cv_graph_add_constant(g, name, t, false);
}

static void attr_int(cv_graph_t *g, int node, const char *name, int64_t v)
{
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_INT, .i = v};
    assert_int_equal(cv_node_add_attr(&g->nodes[node], &a), CV_STATUS_OK);
}

static void attr_ints(cv_graph_t *g, int node, const char *name, const int64_t *v, int n)
{
    cv_attr_t a = {.name = cv_strdup(name), .type = CV_ATTR_INTS, .n = n};
    a.ints = cv_malloc(sizeof(int64_t) * (size_t)n);
    memcpy(a.ints, v, sizeof(int64_t) * (size_t)n);
    assert_int_equal(cv_node_add_attr(&g->nodes[node], &a), CV_STATUS_OK);
}

static int add_node(cv_graph_t *g, cv_op_t op, const int *in, int nin, const char *out_name)
{
    int out = cv_graph_add_value(g, out_name);
    int n = cv_graph_add_node(g, out_name, op, in, nin, &out, 1);
    assert_true(n >= 0);
    return n;
}

static int out_of(const cv_graph_t *g, int node) { return g->nodes[node].outputs[0]; }

/* x[N,3,6,6] -> Conv 3x3 pad 1 -> BatchNorm -> Relu -> Conv 1x1 -> Add x-skip
 * -> GlobalAveragePool -> Reshape to [N,-1] through Shape/Gather/Unsqueeze/
 * Concat (as exporters write it) -> Gemm -> Softmax. `softmax_axis` lets a
 * test build the variant that normalises across the batch. */
static cv_graph_t *build_cnn(uint64_t seed, int64_t softmax_axis)
{
    cv_graph_t *g = cv_graph_create("test-cnn");
    assert_non_null(g);
    g->opset = 17;
    int x = cv_graph_add_value(g, "x");
    g->values[x].dtype = CV_DTYPE_FP32;
    g->values[x].shape = (cv_shape_t){.ndim = 4, .dims = {-1, 3, 6, 6}};
    g->inputs = cv_malloc(sizeof(int));
    g->inputs[0] = x;
    g->ninputs = 1;
    g->batched = true;

    int w1 = add_weight(g, "w1", (cv_shape_t){4, {3, 3, 3, 3}}, seed + 1);
    int b1 = add_weight(g, "b1", (cv_shape_t){1, {3}}, seed + 2);
    int conv1 = add_node(g, CV_OP_CONV, (int[]){x, w1, b1}, 3, "conv1");
    attr_ints(g, conv1, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    int bn_s = add_weight(g, "bn_s", (cv_shape_t){1, {3}}, seed + 3);
    int bn_b = add_weight(g, "bn_b", (cv_shape_t){1, {3}}, seed + 4);
    int bn_m = add_weight(g, "bn_m", (cv_shape_t){1, {3}}, seed + 5);
    int bn_v = add_weight(g, "bn_v", (cv_shape_t){1, {3}}, seed + 6);
    float *var = g->values[bn_v].constant->data;
    for (int i = 0; i < 3; i++) var[i] = fabsf(var[i]) + 0.5f;
    int bn = add_node(g, CV_OP_BATCH_NORMALIZATION, (int[]){out_of(g, conv1), bn_s, bn_b, bn_m, bn_v}, 5, "bn");
    int relu = add_node(g, CV_OP_RELU, (int[]){out_of(g, bn)}, 1, "relu");
    int w2 = add_weight(g, "w2", (cv_shape_t){4, {3, 3, 1, 1}}, seed + 7);
    int conv2 = add_node(g, CV_OP_CONV, (int[]){out_of(g, relu), w2}, 2, "conv2");
    int add = add_node(g, CV_OP_ADD, (int[]){out_of(g, conv2), x}, 2, "skip");
    int pool = add_node(g, CV_OP_GLOBAL_AVERAGE_POOL, (int[]){out_of(g, add)}, 1, "pool");

    int shape = add_node(g, CV_OP_SHAPE, (int[]){out_of(g, pool)}, 1, "shape");
    int zero = add_ints(g, "zero", (int64_t[]){0}, 1);
    /* Gather with a scalar index gives a scalar, as exporters do. */
    g->values[zero].constant->shape.ndim = 0;
    g->values[zero].shape.ndim = 0;
    int gather = add_node(g, CV_OP_GATHER, (int[]){out_of(g, shape), zero}, 2, "batch");
    int axes0 = add_ints(g, "axes0", (int64_t[]){0}, 1);
    int unsq = add_node(g, CV_OP_UNSQUEEZE, (int[]){out_of(g, gather), axes0}, 2, "batch1");
    int minus1 = add_ints(g, "minus1", (int64_t[]){-1}, 1);
    int concat = add_node(g, CV_OP_CONCAT, (int[]){out_of(g, unsq), minus1}, 2, "target");
    attr_int(g, concat, "axis", 0);
    int reshape = add_node(g, CV_OP_RESHAPE, (int[]){out_of(g, pool), out_of(g, concat)}, 2, "flat");

    int w3 = add_weight(g, "w3", (cv_shape_t){2, {5, 3}}, seed + 8);
    int b3 = add_weight(g, "b3", (cv_shape_t){1, {5}}, seed + 9);
    int gemm = add_node(g, CV_OP_GEMM, (int[]){out_of(g, reshape), w3, b3}, 3, "fc");
    attr_int(g, gemm, "transB", 1);
    int softmax = add_node(g, CV_OP_SOFTMAX, (int[]){out_of(g, gemm)}, 1, "prob");
    attr_int(g, softmax, "axis", softmax_axis);

    g->outputs = cv_malloc(sizeof(int));
    g->outputs[0] = out_of(g, softmax);
    g->noutputs = 1;
    g->values[g->outputs[0]].dtype = CV_DTYPE_FP32;
    g->values[g->outputs[0]].shape = (cv_shape_t){.ndim = 2, .dims = {-1, 5}};
    return g;
}

/* ---- running ------------------------------------------------------------ */

typedef struct fixture {
    cv_backend_t *backend;
    cv_executor_t *exec;
    cv_graph_t *graphs[4];
    void **constants[4];
    int ntenants;
} fixture_t;

static void fixture_init(fixture_t *f, int ntenants, int64_t softmax_axis)
{
    cv_err_t err;
    memset(f, 0, sizeof(*f));
    assert_int_equal(cv_backend_cpu_create(1, &f->backend, &err), CV_STATUS_OK);
    assert_int_equal(cv_exec_create(f->backend, &f->exec, &err), CV_STATUS_OK);
    f->ntenants = ntenants;
    for (int t = 0; t < ntenants; t++) {
        f->graphs[t] = build_cnn(100 * (uint64_t)(t + 1), softmax_axis);
        cv_status st = cv_ir_prepare(f->graphs[t], cv_backend_cpu_ctx(f->backend), &err);
        if (st != CV_STATUS_OK) fail_msg("prepare: %s", err.msg);
        assert_int_equal(f->backend->iface->tenant_upload(f->backend, f->graphs[t], CV_PRECISION_FP32, &f->constants[t], &err),
                         CV_STATUS_OK);
    }
}

static void fixture_free(fixture_t *f)
{
    for (int t = 0; t < f->ntenants; t++) {
        f->backend->iface->tenant_release(f->backend, f->graphs[t], f->constants[t]);
        cv_graph_destroy(f->graphs[t]);
    }
    cv_exec_destroy(f->exec);
    f->backend->iface->destroy(f->backend);
}

static cv_plan_t *plan_for(fixture_t *f, int64_t rows)
{
    cv_plan_t *plan;
    cv_err_t err;
    cv_shape_t s = {.ndim = 4, .dims = {rows, 3, 6, 6}};
    cv_status st = cv_plan_build(f->graphs[0], &s, NULL, cv_backend_cpu_ctx(f->backend), &plan, &err);
    if (st != CV_STATUS_OK) fail_msg("plan: %s", err.msg);
    return plan;
}

/* Rows [row0, row0+rows) of a stacked FP32 tensor, as a view. */
static cv_tensor_t rows_view(const cv_tensor_t *t, int64_t row0, int64_t rows)
{
    cv_tensor_t v = *t;
    int64_t per_row = cv_shape_numel(&t->shape) / t->shape.dims[0];
    v.shape.dims[0] = rows;
    v.data = (float *)t->data + row0 * per_row;
    return v;
}

/* Runs a wave whose slice s uses tenant_of[s]'s constants on rows[s] rows
 * of `input` (stacked); returns the stacked output. */
static cv_tensor_t run_wave(fixture_t *f, const int *tenant_of, const int64_t *rows, int nslices,
                            const cv_tensor_t *input)
{
    int64_t total = 0;
    cv_wave_slice_t slices[4];
    for (int s = 0; s < nslices; s++) {
        slices[s] = (cv_wave_slice_t){.row0 = total, .rows = rows[s], .constants = f->constants[tenant_of[s]]};
        total += rows[s];
    }
    cv_plan_t *plan = plan_for(f, total);
    assert_true(plan->stackable);
    cv_tensor_t out;
    cv_shape_t os = {.ndim = 2, .dims = {total, 5}};
    assert_int_equal(cv_tensor_alloc(&out, CV_DTYPE_FP32, &os), CV_STATUS_OK);
    /* Per-slice views of the stacked input and output. */
    cv_tensor_t in_views[4], out_views[4];
    const cv_tensor_t *ins[4];
    cv_tensor_t *outs[4];
    for (int s = 0; s < nslices; s++) {
        in_views[s] = rows_view(input, slices[s].row0, rows[s]);
        out_views[s] = rows_view(&out, slices[s].row0, rows[s]);
        ins[s] = &in_views[s];
        outs[s] = &out_views[s];
    }
    cv_err_t err;
    cv_status st = cv_exec_wave(f->exec, plan, slices, nslices, CV_PRECISION_FP32, ins, outs, &err);
    if (st != CV_STATUS_OK) fail_msg("wave: %s", err.msg);
    cv_plan_destroy(plan);
    return out;
}

/* Rows [row0, row0+rows) of a stacked [N, ...] FP32 tensor, as a copy. */
static cv_tensor_t rows_of(const cv_tensor_t *t, int64_t row0, int64_t rows)
{
    cv_tensor_t r;
    cv_shape_t s = t->shape;
    int64_t per_row = cv_shape_numel(&s) / s.dims[0];
    s.dims[0] = rows;
    assert_int_equal(cv_tensor_alloc(&r, CV_DTYPE_FP32, &s), CV_STATUS_OK);
    memcpy(r.data, (float *)t->data + row0 * per_row, sizeof(float) * (size_t)(rows * per_row));
    return r;
}

static double max_rel_diff(const cv_tensor_t *a, const cv_tensor_t *b)
{
    double scale = 0;
    int64_t n = cv_shape_numel(&b->shape);
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(((float *)b->data)[i]));
    return cv_test_max_abs_diff(a, b) / (scale > 0 ? scale : 1);
}

/* Three tenants with 1, 3 and 2 rows in one wave: each slice equals that
 * tenant run alone; swapping two tenants' weights is caught. */
static void test_wave_equals_solo(void **state)
{
    fixture_t f;
    fixture_init(&f, 3, -1);
    const int64_t rows[3] = {1, 3, 2};
    cv_tensor_t input;
    cv_shape_t s = {.ndim = 4, .dims = {6, 3, 6, 6}};
    assert_int_equal(cv_tensor_alloc(&input, CV_DTYPE_FP32, &s), CV_STATUS_OK);
    cv_test_fill_random(&input, 7);

    cv_tensor_t wave = run_wave(&f, (int[]){0, 1, 2}, rows, 3, &input);
    cv_tensor_t swapped = run_wave(&f, (int[]){1, 0, 2}, rows, 3, &input);
    int64_t row0 = 0;
    for (int t = 0; t < 3; t++) {
        cv_tensor_t in_t = rows_of(&input, row0, rows[t]);
        cv_tensor_t solo = run_wave(&f, (int[]){t}, &rows[t], 1, &in_t);
        cv_tensor_t from_wave = rows_of(&wave, row0, rows[t]);
        cv_tensor_t from_swapped = rows_of(&swapped, row0, rows[t]);
        assert_true(max_rel_diff(&from_wave, &solo) <= 1e-5);
        if (t < 2) /* slices 0 and 1 ran with each other's weights */
            assert_true(max_rel_diff(&from_swapped, &solo) > 1e-3);
        else
            assert_true(max_rel_diff(&from_swapped, &solo) <= 1e-5);
        cv_tensor_free(&in_t);
        cv_tensor_free(&solo);
        cv_tensor_free(&from_wave);
        cv_tensor_free(&from_swapped);
        row0 += rows[t];
    }
    cv_tensor_free(&wave);
    cv_tensor_free(&swapped);
    cv_tensor_free(&input);
    fixture_free(&f);
}

/* Tenants of one family hash alike, whatever their weights; a change of
 * structure (here an attribute) makes another family. */
static void test_family_hash(void **state)
{
    fixture_t f;
    fixture_init(&f, 2, -1);
    assert_true(cv_ir_family_hash(f.graphs[0]) == cv_ir_family_hash(f.graphs[1]));
    cv_graph_t *other = build_cnn(100, 1);
    cv_err_t err;
    assert_int_equal(cv_ir_prepare(other, cv_backend_cpu_ctx(f.backend), &err), CV_STATUS_OK);
    assert_true(cv_ir_family_hash(other) != cv_ir_family_hash(f.graphs[0]));
    cv_graph_destroy(other);
    fixture_free(&f);
}

/* Conv+BatchNorm+Relu fold into one Conv with a fused Relu, and the Shape
 * chain folds at plan time into a constant that follows the batch size. */
static void test_folding_and_plan(void **state)
{
    fixture_t f;
    fixture_init(&f, 1, -1);
    const cv_graph_t *g = f.graphs[0];
    int convs = 0, live = 0;
    for (int n = 0; n < g->nnodes; n++) {
        if (g->nodes[n].dead) continue;
        live++;
        assert_int_not_equal(g->nodes[n].op, CV_OP_BATCH_NORMALIZATION);
        assert_int_not_equal(g->nodes[n].op, CV_OP_RELU);
        if (g->nodes[n].op == CV_OP_CONV && g->nodes[n].activation == CV_ACTIVATION_RELU) convs++;
    }
    assert_int_equal(convs, 1);
    for (int64_t rows = 1; rows <= 3; rows += 2) {
        cv_plan_t *plan = plan_for(&f, rows);
        /* conv1, conv2, add, pool, reshape, gemm, softmax */
        assert_int_equal(plan->nsteps, 7);
        assert_true(plan->stackable);
        const cv_plan_value_t *out = &plan->values[g->outputs[0]];
        assert_int_equal(out->shape.dims[0], rows);
        assert_int_equal(out->shape.dims[1], 5);
        assert_true(out->batched);
        assert_true(plan->arena_bytes > 0);
        cv_plan_destroy(plan);
    }
    assert_true(live >= 7);
    fixture_free(&f);
}

/* Softmax across the batch axis mixes rows: the plan says why it cannot
 * stack tenants. */
static void test_not_stackable(void **state)
{
    fixture_t f;
    fixture_init(&f, 1, 0);
    cv_plan_t *plan = plan_for(&f, 2);
    assert_false(plan->stackable);
    assert_non_null(strstr(plan->not_stackable_why, "Softmax"));
    assert_non_null(strstr(plan->not_stackable_why, "batch axis"));
    cv_plan_destroy(plan);
    fixture_free(&f);
}

/* The public API on real models: SqueezeNet seed 1 and seed 2 are one
 * family; a wave of both (1 and 3 rows) equals each alone and the float64
 * references. */
static void test_shared_squeezenet_family(void **state)
{
    if (!cv_test_have_shared()) {
        printf("skipped: %s/models is absent\n", CARAVEL_SHARED_DIR);
        skip();
    }
    cv_runtime_t *rt;
    cv_err_t err;
    cv_runtime_config_t config = {.device = CV_DEVICE_CPU, .threads = 2};
    assert_int_equal(cv_runtime_create(&config, &rt, &err), CV_STATUS_OK);
    cv_tenant_t *a, *b;
    const char *dir = CARAVEL_SHARED_DIR "/models";
    char path[512];
    snprintf(path, sizeof path, "%s/squeezenet1_1-seed1/model.onnx", dir);
    if (cv_tenant_load(rt, "a", path, CV_PRECISION_FP32, &a, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/squeezenet1_1-seed2/model.onnx", dir);
    if (cv_tenant_load(rt, "b", path, CV_PRECISION_FP32, &b, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    assert_true(cv_tenant_family_hash(a) == cv_tenant_family_hash(b));
    /* Each tenant is charged its own weights (SqueezeNet 1.1: ~4.7 MB). */
    assert_true(cv_tenant_bytes(a) > 4000000 && cv_tenant_bytes(b) > 4000000);
    assert_int_equal(cv_tenant_device_bytes(a), 0);

    cv_tensor_t in_a, in_b, ref_a, ref_b;
    snprintf(path, sizeof path, "%s/squeezenet1_1-seed1/test_data_set_0/input_0.pb", dir);
    assert_int_equal(cv_tensor_read_pb(path, &in_a, &err), CV_STATUS_OK);
    snprintf(path, sizeof path, "%s/squeezenet1_1-seed2/test_data_set_1/input_0.pb", dir);
    assert_int_equal(cv_tensor_read_pb(path, &in_b, &err), CV_STATUS_OK);
    snprintf(path, sizeof path, "%s/squeezenet1_1-seed1/test_data_set_0/output_0.pb", dir);
    assert_int_equal(cv_tensor_read_pb(path, &ref_a, &err), CV_STATUS_OK);
    snprintf(path, sizeof path, "%s/squeezenet1_1-seed2/test_data_set_1/output_0.pb", dir);
    assert_int_equal(cv_tensor_read_pb(path, &ref_b, &err), CV_STATUS_OK);
    assert_int_equal(in_b.shape.dims[0], 3);

    cv_tensor_t solo_a, solo_b, wave_a, wave_b;
    assert_int_equal(cv_infer(rt, a, &in_a, &solo_a, &err), CV_STATUS_OK);
    assert_int_equal(cv_infer(rt, b, &in_b, &solo_b, &err), CV_STATUS_OK);
    cv_slice_io_t slices[2] = {{a, &in_a, &wave_a}, {b, &in_b, &wave_b}};
    if (cv_wave_run(rt, slices, 2, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    assert_true(max_rel_diff(&wave_a, &solo_a) <= 1e-5);
    assert_true(max_rel_diff(&wave_b, &solo_b) <= 1e-5);
    /* The tenants really differ, so a swap of weights would not pass. */
    cv_tensor_t b_on_a;
    assert_int_equal(cv_infer(rt, b, &in_a, &b_on_a, &err), CV_STATUS_OK);
    assert_true(max_rel_diff(&b_on_a, &solo_a) > 1e-3);
    cv_tensor_free(&b_on_a);
    assert_true(max_rel_diff(&solo_a, &ref_a) <= 1e-4);
    assert_true(max_rel_diff(&wave_b, &ref_b) <= 1e-4);

    cv_tensor_t *all[] = {&in_a, &in_b, &ref_a, &ref_b, &solo_a, &solo_b, &wave_a, &wave_b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) cv_tensor_free(all[i]);
    cv_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wave_equals_solo),
        cmocka_unit_test(test_family_hash),
        cmocka_unit_test(test_folding_and_plan),
        cmocka_unit_test(test_not_stackable),
        cmocka_unit_test(test_shared_squeezenet_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
