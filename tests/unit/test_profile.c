/*
 * test_profile.c: the step profile (cv_runtime_config.step_profile,
 * cv_runtime_step_profile) on the CPU: every step of the last wave is
 * there with its kind and a time, the kinds tell the demo CNN's 3x3, 1x1
 * and depthwise convolutions and its Gemm apart, and a runtime without the
 * profile keeps none. Also the FLOP count of a wave (per step in the
 * profile, per wave in cv_runtime_stats) against a hand count.
 */
#include "onnxmodel.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

static void run_profile(bool on, cv_step_profile_t *steps, int max, int *n)
{
    const char *repo = cv_test_demo_repo();
    if (!repo) skip();
    char path[1200];
    snprintf(path, sizeof path, "%s/cnn-a/1/model.onnx", repo);
    cv_runtime_config_t c = {.device = CV_DEVICE_CPU, .threads = 1, .no_profile = true, .step_profile = on};
    cv_runtime_t *rt;
    cv_tenant_t *t;
    cv_err_t err;
    assert_int_equal(cv_runtime_create(&c, &rt, &err), CV_STATUS_OK);
    if (cv_tenant_load(rt, "cnn", path, CV_PRECISION_FP32, &t, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    cv_shape_t s = cv_tenant_input_shape(t, 0);
    s.dims[0] = 2;
    cv_tensor_t x, y;
    assert_int_equal(cv_tensor_alloc(&x, CV_DTYPE_FP32, &s), CV_STATUS_OK);
    cv_test_fill_random(&x, 1);
    assert_int_equal(cv_runtime_step_profile(rt, steps, max), 0);
    assert_int_equal(cv_infer(rt, t, &x, &y, &err), CV_STATUS_OK);
    *n = cv_runtime_step_profile(rt, steps, max);
    cv_tensor_free(&x);
    cv_tensor_free(&y);
    cv_runtime_destroy(rt);
}

static void test_profile_kinds(void **state)
{
    cv_step_profile_t steps[64];
    int n;
    run_profile(true, steps, 64, &n);
    assert_true(n > 4 && n <= 64);
    int kinds[CV_STEP_KIND_COUNT] = {0};
    double total = 0;
    for (int i = 0; i < n; i++) {
        assert_true(steps[i].ms >= 0);
        assert_true(strlen(steps[i].node) > 0 && steps[i].op);
        kinds[steps[i].kind]++;
        total += steps[i].ms;
        if (!strcmp(steps[i].op, "Gemm")) assert_int_equal(steps[i].kind, CV_STEP_GEMM);
    }
    /* The demo CNN: a 3x3 conv, a depthwise conv, a 1x1 conv, a Gemm. */
    assert_true(kinds[CV_STEP_CONV_SPATIAL] >= 1);
    assert_true(kinds[CV_STEP_CONV_DEPTHWISE] >= 1);
    assert_true(kinds[CV_STEP_CONV_POINTWISE] >= 1);
    assert_true(kinds[CV_STEP_GEMM] >= 1);
    assert_true(total > 0);
    assert_string_equal(cv_step_kind_name(CV_STEP_CONV_DEPTHWISE), "conv depthwise");
}

static void test_profile_off(void **state)
{
    cv_step_profile_t steps[64];
    int n;
    run_profile(false, steps, 64, &n);
    assert_int_equal(n, 0);
}

/* x [N,3,8,8] -> Conv (4 filters 3x3, pads 1) -> [N,4,8,8] -> Flatten ->
 * [N,256] -> Gemm with B [256,10] -> [N,10], for a wave of two rows:
 * conv 2 x (2*4*8*8 outputs) x (3*3*3 taps) = 27648, Gemm 2 x (2*10) x 256
 * = 10240, Flatten nothing. */
static void test_flops(void **state)
{
    Onnx__ModelProto *m = cv_test_onnx_model(17);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, CV_TEST_DIMS(-1, 3, 8, 8));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("w", 4, CV_TEST_DIMS(4, 3, 3, 3), 108, true));
    cv_test_onnx_initializer(m, cv_test_onnx_tensor_f32("b", 2, CV_TEST_DIMS(256, 10), 2560, true));
    Onnx__NodeProto *conv = cv_test_onnx_node(m, "Conv", "conv", CV_TEST_NAMES("x", "w"), CV_TEST_NAMES("c"));
    cv_test_onnx_attr_ints(conv, "pads", CV_TEST_DIMS(1, 1, 1, 1), 4);
    cv_test_onnx_node(m, "Flatten", "flat", CV_TEST_NAMES("c"), CV_TEST_NAMES("f"));
    cv_test_onnx_node(m, "Gemm", "fc", CV_TEST_NAMES("f", "b"), CV_TEST_NAMES("y"));
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(-1, 10));
    const char *path = cv_test_onnx_write(m, "flops.onnx");
    for (int profiled = 0; profiled < 2; profiled++) {
        cv_runtime_config_t c = {.device = CV_DEVICE_CPU, .threads = 1, .no_profile = true, .step_profile = profiled};
        cv_runtime_t *rt;
        cv_tenant_t *t;
        cv_err_t err;
        assert_int_equal(cv_runtime_create(&c, &rt, &err), CV_STATUS_OK);
        if (cv_tenant_load(rt, "flops", path, CV_PRECISION_FP32, &t, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
        cv_runtime_stats_t st;
        assert_int_equal(cv_runtime_stats(rt, &st), CV_STATUS_OK);
        assert_true(st.last_wave_flops == 0);
        cv_tensor_t x, y;
        assert_int_equal(cv_tensor_alloc(&x, CV_DTYPE_FP32, &(cv_shape_t){4, {2, 3, 8, 8}}), CV_STATUS_OK);
        cv_test_fill_random(&x, 1);
        assert_int_equal(cv_infer(rt, t, &x, &y, &err), CV_STATUS_OK);
        assert_int_equal(cv_runtime_stats(rt, &st), CV_STATUS_OK);
        assert_true(st.last_wave_flops == 27648 + 10240);
        if (profiled) {
            cv_step_profile_t steps[8];
            int n = cv_runtime_step_profile(rt, steps, 8);
            assert_int_equal(n, 3);
            double sum = 0;
            for (int i = 0; i < n; i++) {
                if (!strcmp(steps[i].op, "Conv")) assert_true(steps[i].flops == 27648);
                else if (!strcmp(steps[i].op, "Gemm")) assert_true(steps[i].flops == 10240);
                else assert_true(steps[i].flops == 0);
                sum += steps[i].flops;
            }
            assert_true(sum == st.last_wave_flops);
        }
        cv_tensor_free(&x);
        cv_tensor_free(&y);
        cv_runtime_destroy(rt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_kinds),
        cmocka_unit_test(test_profile_off),
        cmocka_unit_test_teardown(test_flops, cv_test_onnx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
