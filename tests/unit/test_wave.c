/*
 * test_wave.c: waves of several tenants of one family give each tenant
 * exactly what it gets alone; plans find what can and cannot be stacked.
 *
 * Graphs are built through the IR API (no files), so these tests need no
 * data; the last test uses the SqueezeNet family of ../shared/models when
 * it is there.
 */
#include "graphs.h"

#include "ir/passes.h"

#include <math.h>
#include <string.h>

/* ---- building graphs ---------------------------------------------------- */

/* x[N,3,6,6] -> Conv 3x3 pad 1 -> BatchNorm -> Relu -> Conv 1x1 -> Add x-skip
 * -> GlobalAveragePool -> Reshape to [N,-1] through Shape/Gather/Unsqueeze/
 * Concat (as exporters write it) -> Gemm -> Softmax. `softmax_axis` lets a
 * test build the variant that normalises across the batch. */
static cv_graph_t *build_cnn(uint64_t seed, int64_t softmax_axis)
{
    cv_graph_t *g = cv_test_graph_new("test-cnn", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 3, 6, 6));

    int w1 = cv_test_graph_weight(g, "w1", CV_TEST_SHAPE(3, 3, 3, 3), seed + 1);
    int b1 = cv_test_graph_weight(g, "b1", CV_TEST_SHAPE(3), seed + 2);
    int conv1 = cv_test_graph_node(g, CV_OP_CONV, (int[]){x, w1, b1}, 3, "conv1");
    cv_test_graph_attr_ints(g, conv1, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    int bn_s = cv_test_graph_weight(g, "bn_s", CV_TEST_SHAPE(3), seed + 3);
    int bn_b = cv_test_graph_weight(g, "bn_b", CV_TEST_SHAPE(3), seed + 4);
    int bn_m = cv_test_graph_weight(g, "bn_m", CV_TEST_SHAPE(3), seed + 5);
    int bn_v = cv_test_graph_weight(g, "bn_v", CV_TEST_SHAPE(3), seed + 6);
    float *var = g->values[bn_v].constant->data;
    for (int i = 0; i < 3; i++) var[i] = fabsf(var[i]) + 0.5f;
    int bn = cv_test_graph_node(g, CV_OP_BATCH_NORMALIZATION,
                                (int[]){cv_test_graph_out(g, conv1), bn_s, bn_b, bn_m, bn_v}, 5, "bn");
    int relu = cv_test_graph_node(g, CV_OP_RELU, (int[]){cv_test_graph_out(g, bn)}, 1, "relu");
    int w2 = cv_test_graph_weight(g, "w2", CV_TEST_SHAPE(3, 3, 1, 1), seed + 7);
    int conv2 = cv_test_graph_node(g, CV_OP_CONV, (int[]){cv_test_graph_out(g, relu), w2}, 2, "conv2");
    int add = cv_test_graph_node(g, CV_OP_ADD, (int[]){cv_test_graph_out(g, conv2), x}, 2, "skip");
    int pool = cv_test_graph_node(g, CV_OP_GLOBAL_AVERAGE_POOL, (int[]){cv_test_graph_out(g, add)}, 1, "pool");

    int shape = cv_test_graph_node(g, CV_OP_SHAPE, (int[]){cv_test_graph_out(g, pool)}, 1, "shape");
    int zero = cv_test_graph_const_ints(g, "zero", (int64_t[]){0}, 1);
    /* Gather with a scalar index gives a scalar, as exporters do. */
    g->values[zero].constant->shape.ndim = 0;
    g->values[zero].shape.ndim = 0;
    int gather = cv_test_graph_node(g, CV_OP_GATHER, (int[]){cv_test_graph_out(g, shape), zero}, 2, "batch");
    int axes0 = cv_test_graph_const_ints(g, "axes0", (int64_t[]){0}, 1);
    int unsq = cv_test_graph_node(g, CV_OP_UNSQUEEZE, (int[]){cv_test_graph_out(g, gather), axes0}, 2, "batch1");
    int minus1 = cv_test_graph_const_ints(g, "minus1", (int64_t[]){-1}, 1);
    int concat = cv_test_graph_node(g, CV_OP_CONCAT, (int[]){cv_test_graph_out(g, unsq), minus1}, 2, "target");
    cv_test_graph_attr_int(g, concat, "axis", 0);
    int reshape = cv_test_graph_node(g, CV_OP_RESHAPE,
                                     (int[]){cv_test_graph_out(g, pool), cv_test_graph_out(g, concat)}, 2, "flat");

    int w3 = cv_test_graph_weight(g, "w3", CV_TEST_SHAPE(5, 3), seed + 8);
    int b3 = cv_test_graph_weight(g, "b3", CV_TEST_SHAPE(5), seed + 9);
    int gemm = cv_test_graph_node(g, CV_OP_GEMM, (int[]){cv_test_graph_out(g, reshape), w3, b3}, 3, "fc");
    cv_test_graph_attr_int(g, gemm, "transB", 1);
    int softmax = cv_test_graph_node(g, CV_OP_SOFTMAX, (int[]){cv_test_graph_out(g, gemm)}, 1, "prob");
    cv_test_graph_attr_int(g, softmax, "axis", softmax_axis);

    int y = cv_test_graph_out(g, softmax);
    cv_test_graph_output(g, y);
    g->values[y].dtype = CV_DTYPE_FP32;
    g->values[y].shape = (cv_shape_t){.ndim = 2, .dims = {-1, 5}};
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
        cv_test_graph_prepare(f->graphs[t], cv_backend_cpu_ctx(f->backend));
        f->constants[t] = cv_test_tenant_upload(f->backend, f->graphs[t], CV_PRECISION_FP32);
    }
}

static void fixture_free(fixture_t *f)
{
    for (int t = 0; t < f->ntenants; t++) {
        cv_test_tenant_release(f->backend, f->graphs[t], f->constants[t]);
        cv_graph_destroy(f->graphs[t]);
    }
    cv_exec_destroy(f->exec);
    f->backend->iface->destroy(f->backend);
}

static cv_plan_t *plan_for(fixture_t *f, int64_t rows)
{
    return cv_test_plan_rows(f->graphs[0], rows, cv_backend_cpu_ctx(f->backend));
}

/* Runs a wave whose slice s uses tenant_of[s]'s constants on rows[s] rows
 * of `input` (stacked); returns the stacked output. */
static cv_tensor_t run_wave(fixture_t *f, const int *tenant_of, const int64_t *rows, int nslices,
                            const cv_tensor_t *input)
{
    int64_t total = 0;
    void **tables[4];
    for (int s = 0; s < nslices; s++) {
        tables[s] = f->constants[tenant_of[s]];
        total += rows[s];
    }
    cv_plan_t *plan = plan_for(f, total);
    assert_true(plan->stackable);
    cv_tensor_t out;
    cv_test_wave_run(f->exec, plan, tables, rows, nslices, CV_PRECISION_FP32, input, &out);
    cv_plan_destroy(plan);
    return out;
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
        cv_tensor_t in_t = cv_test_rows_copy(&input, row0, rows[t]);
        cv_tensor_t solo = run_wave(&f, (int[]){t}, &rows[t], 1, &in_t);
        cv_tensor_t from_wave = cv_test_rows_copy(&wave, row0, rows[t]);
        cv_tensor_t from_swapped = cv_test_rows_copy(&swapped, row0, rows[t]);
        assert_true(cv_test_rel_diff(&from_wave, &solo) <= 1e-5);
        if (t < 2) /* slices 0 and 1 ran with each other's weights */
            assert_true(cv_test_rel_diff(&from_swapped, &solo) > 1e-3);
        else
            assert_true(cv_test_rel_diff(&from_swapped, &solo) <= 1e-5);
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
        printf("skipped: %s/models is absent\n", cv_test_shared_dir());
        skip();
    }
    cv_runtime_t *rt = cv_test_runtime_create(CV_DEVICE_CPU, 2);
    cv_err_t err;
    cv_tenant_t *a = cv_test_load_model(rt, "a", "squeezenet1_1-seed1", CV_PRECISION_FP32);
    cv_tenant_t *b = cv_test_load_model(rt, "b", "squeezenet1_1-seed2", CV_PRECISION_FP32);
    assert_true(cv_tenant_family_hash(a) == cv_tenant_family_hash(b));
    /* Each tenant is charged its own weights (SqueezeNet 1.1: ~4.7 MB). */
    assert_true(cv_tenant_bytes(a) > 4000000 && cv_tenant_bytes(b) > 4000000);
    assert_int_equal(cv_tenant_device_bytes(a), 0);

    cv_tensor_t in_a = cv_test_read_model_pb("squeezenet1_1-seed1", 0, "input_0.pb");
    cv_tensor_t in_b = cv_test_read_model_pb("squeezenet1_1-seed2", 1, "input_0.pb");
    cv_tensor_t ref_a = cv_test_read_model_pb("squeezenet1_1-seed1", 0, "output_0.pb");
    cv_tensor_t ref_b = cv_test_read_model_pb("squeezenet1_1-seed2", 1, "output_0.pb");
    assert_int_equal(in_b.shape.dims[0], 3);

    cv_tensor_t solo_a, solo_b, wave_a, wave_b;
    assert_int_equal(cv_infer(rt, a, &in_a, &solo_a, &err), CV_STATUS_OK);
    assert_int_equal(cv_infer(rt, b, &in_b, &solo_b, &err), CV_STATUS_OK);
    cv_slice_io_t slices[2] = {{a, &in_a, &wave_a}, {b, &in_b, &wave_b}};
    if (cv_wave_run(rt, slices, 2, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    assert_true(cv_test_rel_diff(&wave_a, &solo_a) <= 1e-5);
    assert_true(cv_test_rel_diff(&wave_b, &solo_b) <= 1e-5);
    /* cv_wave_run's waves (cv_infer's too) are in the host-time medians;
     * on the CPU the wave runs inside its launch and there is no cache. */
    cv_runtime_stats_t rs;
    assert_int_equal(cv_runtime_stats(rt, &rs), CV_STATUS_OK);
    assert_true(rs.launch_us_median > 0 && rs.inputs_us_median <= rs.launch_us_median);
    assert_true(rs.cache_us_median == 0 && rs.graph_lookup_us_median == 0);
    /* The tenants really differ, so a swap of weights would not pass. */
    cv_tensor_t b_on_a;
    assert_int_equal(cv_infer(rt, b, &in_a, &b_on_a, &err), CV_STATUS_OK);
    assert_true(cv_test_rel_diff(&b_on_a, &solo_a) > 1e-3);
    cv_tensor_free(&b_on_a);
    assert_true(cv_test_rel_diff(&solo_a, &ref_a) <= 1e-4);
    assert_true(cv_test_rel_diff(&wave_b, &ref_b) <= 1e-4);

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
