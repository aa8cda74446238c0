/*
 * test_drop_weights.c: cv_graph_host_read_weights, which tells the weight
 * store (src/runtime/weights.c) which host copies a tenant on a device
 * still reads once the device holds its weights (issue 9, the memory
 * wall): not the Conv/Gemm/MatMul weights and biases that nothing else
 * reads and that are no graph output; the constants that planning or host
 * code reads, yes. And a graph without the others still plans at every
 * height, as a family's representative must. That waves then compute the
 * same on CUDA is held by the GPU runtime tests and `caravel check
 * --device cuda`, which load through the runtime.
 */
#include "graphs.h"

#include "ir/passes.h"

/* x [N,4,5,5]:
 *   c1 = Conv3x3(x; w1, b1)           w1, b1 freed
 *   a  = c1 + shared                   `shared` is also Conv c2's bias: kept
 *   c2 = Conv1x1(a; w2, shared)        w2 freed
 *   y  = Clip(c2 * scale, lo, hi)      scale (a Mul's), lo, hi kept
 *   f  = Flatten(GAP(y)); z = Gemm(f; wg, bg)   wg, bg freed
 * outputs: z, and `bias_out` (a Conv bias that is also a graph output: kept) */
static void test_drops_only_gemm_weights(void **state)
{
    (void)state;
    cv_backend_t *be;
    cv_err_t err;
    assert_int_equal(cv_backend_cpu_create(1, &be, &err), CV_STATUS_OK);
    cv_cpu_ctx_t *cpu = cv_backend_cpu_ctx(be);

    cv_graph_t *g = cv_test_graph_new("test-drop", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 4, 4, 4));
    int w1 = cv_test_graph_weight(g, "w1", CV_TEST_SHAPE(4, 4, 3, 3), 1);
    int b1 = cv_test_graph_weight(g, "b1", CV_TEST_SHAPE(4), 2);
    int c1 = cv_test_graph_node(g, CV_OP_CONV, (int[]){x, w1, b1}, 3, "c1");
    cv_test_graph_attr_ints(g, c1, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    int shared = cv_test_graph_weight(g, "shared", CV_TEST_SHAPE(4), 3);
    int a = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_ADD, (int[]){cv_test_graph_out(g, c1), shared}, 2, "a"));
    int w2 = cv_test_graph_weight(g, "w2", CV_TEST_SHAPE(4, 4, 1, 1), 4);
    int c2 = cv_test_graph_node(g, CV_OP_CONV, (int[]){a, w2, shared}, 3, "c2");
    int scale = cv_test_graph_weight(g, "scale", CV_TEST_SHAPE(4, 1, 1), 5);
    int m = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_MUL, (int[]){cv_test_graph_out(g, c2), scale}, 2, "m"));
    int lo = cv_test_graph_const_scalar(g, "lo", -0.5f), hi = cv_test_graph_const_scalar(g, "hi", 0.5f);
    int y = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_CLIP, (int[]){m, lo, hi}, 3, "y"));
    int gap = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_GLOBAL_AVERAGE_POOL, (int[]){y}, 1, "gap"));
    int f = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_FLATTEN, (int[]){gap}, 1, "f"));
    int wg = cv_test_graph_weight(g, "wg", CV_TEST_SHAPE(3, 4), 6);
    int bg = cv_test_graph_weight(g, "bg", CV_TEST_SHAPE(3), 7);
    int gm = cv_test_graph_node(g, CV_OP_GEMM, (int[]){f, wg, bg}, 3, "z");
    cv_test_graph_attr_int(g, gm, "transB", 1);
    cv_test_graph_output(g, cv_test_graph_out(g, gm));
    int bias_out = cv_test_graph_weight(g, "bias_out", CV_TEST_SHAPE(4), 8);
    int c3 = cv_test_graph_node(g, CV_OP_CONV, (int[]){y, w2, bias_out}, 3, "c3");
    cv_test_graph_output(g, cv_test_graph_out(g, c3));
    cv_test_graph_output(g, bias_out);
    cv_test_graph_prepare(g, cpu);

    int dropped[] = {w1, b1, wg, bg, w2}; /* w2 is read by two Convs as their weight */
    int kept[] = {shared, scale, lo, hi, bias_out};
    bool *read = cv_calloc((size_t)g->nvalues, sizeof(bool));
    assert_non_null(read);
    assert_int_equal(cv_graph_host_read_weights(g, read), CV_STATUS_OK);
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++) assert_false(read[dropped[i]]);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        assert_true(read[kept[i]] || !g->values[kept[i]].is_weight);
    for (int v = 0; v < g->nvalues; v++)
        if (read[v]) assert_true(g->values[v].constant && g->values[v].is_weight);
    /* What a device tenant's graph looks like: the unread weights without
     * data, their dtype and shape kept. */
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++) {
        cv_tensor_free(g->values[dropped[i]].constant);
        assert_int_equal(g->values[dropped[i]].constant->shape.ndim, g->values[dropped[i]].shape.ndim);
    }
    cv_free(read);

    /* A family's representative is planned again for each new height. */
    for (int64_t rows = 1; rows <= 3; rows++) cv_plan_destroy(cv_test_plan_rows(g, rows, cpu));

    cv_graph_destroy(g);
    be->iface->destroy(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drops_only_gemm_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
