/*
 * test_cli_errors.c: bad input to the `caravel` command gives one clear line
 * on stderr naming what is wrong and a non-zero exit, never a crash: wrong
 * input shape or dtype at run time, missing or corrupt files, bad options
 * (of every command, `caravel load` and `caravel serve` included).
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

static void test_drive_bad_options(void **state)
{
    expect_error("drive --rate 10", 2, "--model", NULL);
    expect_error("drive --model m.onnx", 2, "--rate", "--concurrency");
    expect_error("drive --model m.onnx --rate -3", 2, "--rate", "-3");
    expect_error("drive --model m.onnx --rates 10,,20", 2, "--rates", NULL);
    expect_error("drive --model m.onnx --rate 10 --concurrency 4", 2, "--concurrency", "exclude");
    expect_error("drive --model m.onnx --concurrency 2.5", 2, "--concurrency", "2.5");
    expect_error("drive --model m.onnx --rate 10 --policy fastest", 2, "--policy", "fastest");
    expect_error("drive --model m.onnx --rate 10 --policy time,", 2, "--policy", NULL);
    expect_error("drive --model m.onnx --rate 10 --duration 0", 2, "--duration", NULL);
    expect_error("drive --model m.onnx --rate 10 --slo soon", 2, "--slo", NULL);
    expect_error("drive --model m.onnx --rate 10 --weights 0,0", 2, "--weights", NULL);
    expect_error("drive --model m.onnx --rate 10 --weights 0,1", 2, "--weights", "weight 0"); /* 1 tenant */
    expect_error("drive --model m.onnx --rate 10 --rows 9 --max-wave-rows 8", 2, "--rows", NULL);
    expect_error("drive --model m.onnx --rate 10 --frobnicate 1", 2, "--frobnicate", NULL);
    expect_error("drive --model m.onnx --rate", 2, "--rate needs a value", NULL);
    expect_error("drive --model m.onnx --rate 10 --tenants 4,2", 2, "--tenants", "ascending");
    expect_error("drive --model m.onnx --rate 10 --tenants 0,2", 2, "--tenants", NULL);
    expect_error("drive --model m.onnx --rate 10 --per-tenant", 2, "--per-tenant", "closed loop");
    expect_error("drive --model m.onnx --concurrency 1 --until-full --fresh", 2, "--until-full", "--fresh");
    expect_error("drive --model m.onnx --concurrency 1 --load-seconds 0", 2, "--load-seconds", NULL);
    expect_error("drive --model m.onnx --rate 10 --tenants 1,3 --weights 0,0,1", 2, "--weights", "weight 0");
    /* A library error: its message, exit 1. */
    expect_error("drive --model %s/corrupt.onnx --rate 10 --duration 0.1", 1, "corrupt.onnx", NULL);
}

/* Short runs of each kind, every policy, append rows under one header;
 * every measured arrival is accounted for (the command checks and fails
 * otherwise). */
static void test_drive_runs(void **state)
{
    char err[4096], path[600];
    snprintf(path, sizeof path, "%s/drive.csv", dir);
    remove(path);
    int rc = run_cli("drive --model %s/relu.onnx --tenants 3 --concurrency 4 --duration 0.3 --warmup 0.1 "
                     "--policy all --quiet --csv %s/drive.csv", err, sizeof err);
    if (rc != 0) fail_msg("closed loop: exit %d: %s", rc, err);
    rc = run_cli("drive --model %s/relu.onnx --tenants 2 --weights 3,1 --rates 100,300 --slo 200 --duration 0.3 "
                 "--warmup 0 --policy spacetime,space --quiet --csv %s/drive.csv", err, sizeof err);
    if (rc != 0) fail_msg("open loop: exit %d: %s", rc, err);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    int rows = 0, headers = 0;
    while (fgets(line, sizeof line, f)) {
        int commas = 0;
        for (const char *p = line; *p; p++) commas += *p == ',';
        assert_int_equal(commas, 40); /* 41 columns (--help lists them) */
        if (!strncmp(line, "label,policy,", 13)) {
            headers++;
            continue;
        }
        rows++;
        /* Open-loop rows carry a rate, closed-loop ones a concurrency. */
        assert_true(strstr(line, ",poisson,100,,") || strstr(line, ",poisson,300,,") || strstr(line, ",closed,,4,"));
    }
    fclose(f);
    assert_int_equal(headers, 1);
    assert_int_equal(rows, 4 + 4);
}

/* A list of tenant counts grows one runtime per policy; --per-tenant keeps
 * one request of each tenant outstanding; the per-tenant and wall CSVs get
 * a row per tenant per run and one per policy. --until-full with a time
 * limit on loading stops the growth early and says why. */
static void test_drive_tenant_counts(void **state)
{
    char err[4096], path[600];
    const char *files[] = {"drive_counts.csv", "drive_tenants.csv", "drive_wall.csv"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        remove(path);
    }
    int rc = run_cli("drive --model %s/relu.onnx --tenants 1,3 --per-tenant --concurrency 2 --duration 0.3 "
                     "--warmup 0.1 --policy spacetime,time --quiet --csv %s/drive_counts.csv "
                     "--tenant-csv %s/drive_tenants.csv", err, sizeof err);
    if (rc != 0) fail_msg("tenant counts: exit %d: %s", rc, err);
    /* A limit no load can meet: growth stops after the first tenant. */
    rc = run_cli("drive --model %s/relu.onnx --tenants 1,8 --until-full --load-seconds 0.000001 --concurrency 1 "
                 "--duration 0.2 --warmup 0 --quiet --wall-csv %s/drive_wall.csv", err, sizeof err);
    if (rc != 0) fail_msg("until full: exit %d: %s", rc, err);
    char line[1024];
    int rows = 0, tenant_rows = 0, wall_rows = 0;
    snprintf(path, sizeof path, "%s/drive_counts.csv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "label,", 6)) {
            rows++;
            /* tenants 1 or 3, per_tenant 1: ...,<tenants>,1,closed,,2,... and ...,1,<spread>\n */
            assert_true(strstr(line, ",fp32,1,1,closed,,2,") || strstr(line, ",fp32,3,1,closed,,2,"));
        }
    fclose(f);
    assert_int_equal(rows, 2 * 2);
    snprintf(path, sizeof path, "%s/drive_tenants.csv", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) tenant_rows += strncmp(line, "label,", 6) != 0;
    fclose(f);
    assert_int_equal(tenant_rows, 2 * (1 + 3)); /* two policies, a row per tenant at 1 and at 3 */
    snprintf(path, sizeof path, "%s/drive_wall.csv", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "label,", 6)) continue;
        wall_rows++;
        assert_non_null(strstr(line, ",spacetime,cpu,fp32,1,0,"));
        assert_non_null(strstr(line, ",load_seconds,"));
    }
    fclose(f);
    assert_int_equal(wall_rows, 1);
}

/* `caravel load` refuses bad options before it connects to anything. */
static void test_load_bad_options(void **state)
{
    expect_error("load --rate 10", 2, "--model", "--models-from-server");
    expect_error("load --model m", 2, "--rate", "--concurrency");
    expect_error("load --model m --rate 0", 2, "--rate", NULL);
    expect_error("load --model m --rates 10,x", 2, "--rates", NULL);
    expect_error("load --model m --rate 10 --concurrency 4", 2, "exclude", NULL);
    expect_error("load --model m --concurrency 1.5", 2, "--concurrency", "1.5");
    expect_error("load --model m --concurrency 8 --connections 4", 2, "--connections 4", "--concurrency 8");
    expect_error("load --model m --models-from-server --rate 1", 2, "exclude", NULL);
    expect_error("load --model m --rate 1 --url https://127.0.0.1:8000", 2, "--url", "https://");
    expect_error("load --model m --rate 1 --url http://127.0.0.1:8000/v2", 2, "--url", NULL);
    expect_error("load --model m --rate 1 --weights 0,1", 2, "--weights", "weight 0"); /* 1 model */
    expect_error("load --model m --rate 1 --rows 0", 2, "--rows", NULL);
    expect_error("load --model m --rate 1 --duration -1", 2, "--duration", NULL);
    expect_error("load --model m --rate 1 --slo x", 2, "--slo", NULL);
    expect_error("load --model m --rate 1 --frobnicate 1", 2, "--frobnicate", NULL);
    expect_error("load --model m --rate 1 stray", 2, "stray", NULL);
    expect_error("load --model m --rate", 2, "--rate needs a value", NULL);
    /* Nothing listens on port 9 of the loopback (discard): exit 1. */
    expect_error("load --model m --rate 1 --url http://127.0.0.1:9", 1, "127.0.0.1", NULL);
}

/* `caravel serve` refuses bad options and repositories before it listens. */
static void test_serve_bad_options(void **state)
{
    expect_error("serve", 2, "--model-repository is required", NULL);
    expect_error("serve --model-repository %s --device tpu", 2, "--device", "tpu");
    expect_error("serve --model-repository %s --device cpu:0,0", 2, "--device", "twice");
    expect_error("serve --model-repository %s --device cuda:1-0", 2, "'1-0'", "not a device number");
    expect_error("serve --model-repository %s --device cpu:0-99", 2, "'0-99'", "[0, 63]");
    expect_error("serve --model-repository %s --device-memory 0", 2, "--device-memory", "above 0");
    expect_error("serve --model-repository %s --device-memory 5X", 2, "--device-memory", "'5X'");
    expect_error("serve --model-repository %s --http-port 70000", 2, "--http-port", "70000");
    expect_error("serve --model-repository %s --threads many", 2, "--threads", NULL);
    expect_error("serve --model-repository %s --policy fastest", 2, "--policy", NULL);
    expect_error("serve --model-repository %s --load-model ../etc", 2, "--load-model", "not a model name");
    expect_error("serve --model-repository %s --load-model absent", 2, "absent", "no such model");
    expect_error("serve --model-repository %s/no-such-folder", 1, "no-such-folder", NULL);
    expect_error("serve --model-repository %s --frobnicate 1", 2, "unknown option", NULL);
}

/* `caravel families` refuses bad options; a model that does not load is
 * named, left out, and makes the exit status 1. */
static void test_families_errors(void **state)
{
    expect_error("families", 2, "--model-repository is required", NULL);
    expect_error("families --model-repository %s --format yaml", 2, "--format", "yaml");
    expect_error("families --model-repository %s --device tpu", 2, "--device", "tpu");
    expect_error("families --model-repository %s --load-model ../etc", 2, "--load-model", "not a model name");
    expect_error("families --model-repository %s --load-model absent", 2, "absent", "no such model");
    expect_error("families --model-repository %s/no-such-folder", 1, "no-such-folder", NULL);
    expect_error("families --model-repository %s --frobnicate 1", 2, "unknown option", NULL);

    char cmd[4096], err[4096];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/families-repo/good/1 %s/families-repo/broken/1 && cp %s/relu.onnx %s/families-repo/good/1/model.onnx"
             " && cp %s/corrupt.onnx %s/families-repo/broken/1/model.onnx", dir, dir, dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    int rc = run_cli("families --model-repository %s/families-repo", err, sizeof err);
    if (rc != 1 || !strstr(err, "not an ONNX model") || !strstr(err, "left out of the map (they did not load): broken\n"))
        fail_msg("caravel families over a repository with a broken model: exit %d, stderr: %s", rc, err);
    (void)state;
}

static void test_table1_errors(void **state)
{
    expect_error("table1 --r 0", 2, "--r", NULL);
    expect_error("table1 --r 2,x", 2, "--r", "x");
    expect_error("table1 --r 5000", 2, "4096", NULL);
    expect_error("table1 --shapes foo", 2, "unknown shape 'foo'", NULL);
    expect_error("table1 --reps", 2, "needs a value", NULL);
    expect_error("table1 --frobnicate 1", 2, "unknown option", NULL);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_input_runs),   cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_wrong_dtype),       cmocka_unit_test(test_missing_input_file),
        cmocka_unit_test(test_corrupt_model),     cmocka_unit_test(test_wrong_input_count),
        cmocka_unit_test(test_bad_options),       cmocka_unit_test(test_drive_bad_options),
        cmocka_unit_test(test_drive_runs),        cmocka_unit_test(test_drive_tenant_counts),        cmocka_unit_test(test_serve_bad_options),
        cmocka_unit_test(test_load_bad_options),  cmocka_unit_test(test_families_errors),
        cmocka_unit_test(test_table1_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
