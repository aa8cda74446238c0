/*
 * test_cli_errors.c: bad input to the `caravel` command gives one clear line
 * on stderr naming what is wrong and a non-zero exit, never a crash: wrong
 * input shape or dtype at run time, missing or corrupt files, bad options.
 * (Under `make asan` the command itself runs with AddressSanitizer.)
 */
#include "onnxmodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char dir[512];

/* Writes relu.onnx: y = Relu(x), x and y FP32 [N,4] with a symbolic N. */
static void write_relu_model(void)
{
    Onnx__ModelProto *m = cv_test_onnx_model(17);
    cv_test_onnx_input(m, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(-1, 4));
    cv_test_onnx_node(m, "Relu", "", CV_TEST_NAMES("x"), CV_TEST_NAMES("y"));
    cv_test_onnx_output(m, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, CV_TEST_DIMS(-1, 4));
    cv_test_onnx_write(m, "relu.onnx");
    cv_test_onnx_teardown(NULL);
}

static void write_tensor(const char *name, cv_dtype_t dtype, cv_shape_t shape)
{
    const char *path = cv_test_tmp_path(name);
    cv_tensor_t t;
    assert_int_equal(cv_tensor_alloc(&t, dtype, &shape), CV_STATUS_OK);
    cv_err_t err;
    assert_int_equal(cv_tensor_write_pb(path, "x", &t, &err), CV_STATUS_OK);
    cv_tensor_free(&t);
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "%s", cv_test_tmpdir());
    write_relu_model();
    write_tensor("good.pb", CV_DTYPE_FP32, (cv_shape_t){2, {3, 4}});
    write_tensor("wrong_shape.pb", CV_DTYPE_FP32, (cv_shape_t){2, {3, 5}});
    write_tensor("wrong_dtype.pb", CV_DTYPE_INT64, (cv_shape_t){2, {3, 4}});
    static const char corrupt[] = "\x0a\xff\xff\xff this is not a protobuf";
    cv_test_write_file(cv_test_tmp_path("corrupt.onnx"), corrupt, sizeof corrupt - 1);
    return 0;
}

/* Runs the command (arguments after `caravel`, with %s = the test folder);
 * returns its exit status and its stderr in err_out. */
static int run_cli(const char *args, char *err_out, size_t len)
{
    char cmd[4096], formatted[1500], errfile[600];
    snprintf(formatted, sizeof formatted, args, dir, dir, dir);
    snprintf(errfile, sizeof errfile, "%s/stderr.txt", dir);
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>%s", CARAVEL_CLI, formatted, errfile);
    int status = system(cmd);
    FILE *f = fopen(errfile, "r");
    assert_non_null(f);
    size_t n = fread(err_out, 1, len - 1, f);
    err_out[n] = '\0';
    fclose(f);
    assert_true(WIFEXITED(status)); /* never a signal (a crash) */
    return WEXITSTATUS(status);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void expect_error(const char *args, int rc, const char *needle1, const char *needle2)
{
    char err[4096];
    int got = run_cli(args, err, sizeof err);
    if (got != rc || count_lines(err) != 1 || !strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("caravel %s: exit %d (wanted %d), stderr: %s", args, got, rc, err);
}

static void test_good_input_runs(void **state)
{
    char err[4096];
    assert_int_equal(run_cli("run --model %s/relu.onnx --input %s/good.pb", err, sizeof err), 0);
    assert_string_equal(err, "");
}

static void test_wrong_shape(void **state)
{
    expect_error("run --model %s/relu.onnx --input %s/wrong_shape.pb", 1, "input 'x'", "[3,5]");
}

static void test_wrong_dtype(void **state)
{
    expect_error("run --model %s/relu.onnx --input %s/wrong_dtype.pb", 1, "INT64", "FP32");
}

static void test_missing_input_file(void **state)
{
    expect_error("run --model %s/relu.onnx --input %s/absent.pb", 1, "absent.pb", NULL);
}

static void test_corrupt_model(void **state)
{
    expect_error("run --model %s/corrupt.onnx --input %s/good.pb", 1, "corrupt.onnx", NULL);
}

static void test_wrong_input_count(void **state)
{
    expect_error("run --model %s/relu.onnx --input %s/good.pb --input %s/good.pb", 1, "has 1 inputs", NULL);
}

static void test_bad_options(void **state)
{
    expect_error("run --input x.pb", 2, "--model is required", NULL);
    expect_error("run --model m.onnx --repeat zero", 2, "--repeat", NULL);
    expect_error("check --rtol -1 x", 2, "--rtol", NULL);
    expect_error("frobnicate", 2, "unknown command", NULL);
}

/* `caravel serve` refuses bad options and repositories before it listens. */
static void test_serve_bad_options(void **state)
{
    expect_error("serve", 2, "--model-repository is required", NULL);
    expect_error("serve --model-repository %s --device tpu", 2, "--device", "tpu");
    expect_error("serve --model-repository %s --http-port 70000", 2, "--http-port", "70000");
    expect_error("serve --model-repository %s --threads many", 2, "--threads", NULL);
    expect_error("serve --model-repository %s --policy fastest", 2, "--policy", NULL);
    expect_error("serve --model-repository %s --load-model ../etc", 2, "--load-model", "not a model name");
    expect_error("serve --model-repository %s --load-model absent", 2, "absent", "no such model");
    expect_error("serve --model-repository %s/no-such-folder", 1, "no-such-folder", NULL);
    expect_error("serve --model-repository %s --frobnicate 1", 2, "unknown option", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_input_runs),   cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_wrong_dtype),       cmocka_unit_test(test_missing_input_file),
        cmocka_unit_test(test_corrupt_model),     cmocka_unit_test(test_wrong_input_count),
        cmocka_unit_test(test_bad_options),       cmocka_unit_test(test_serve_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
