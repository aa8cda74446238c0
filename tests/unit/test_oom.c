/*
 * test_oom.c: out-of-memory loops beyond the loader, SQLite style. For
 * N = 1, 2, ... the Nth allocation from now fails (and every one after it),
 * while a scenario loads two tenants of one family, runs them as one wave
 * and alone, and unloads them: cv_tenant_load, planning and cv_wave_run all
 * meet the failure somewhere. Each time the scenario must end in
 * OUT_OF_MEMORY with a message saying so, leak nothing, and leave the
 * runtime serving: a tenant of another family, loaded before the loop, still
 * gives exactly its first answer. The loop ends at the first N the scenario
 * survives, whose outputs must equal those of a run without failures.
 *
 * Host allocations (cv_malloc) fail in this file on the CPU backend; the GPU
 * variant (test_gpu_oom.c, which includes this file with OOM_ON_CUDA) runs
 * the same loops on CUDA for host allocations and for device allocations.
 *
 * Models: the demo repository, from $CARAVEL_DEMO_REPO when set (the GPU
 * machine makes one with its own Python) or made into this test's scratch
 * folder by tools/make_demo_repo.py with the project's Python; skipped with
 * the reason when that Python lacks onnx and onnxruntime.
 */
#include "testutil.h"

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef OOM_ON_CUDA
#include <cuda_runtime.h>
#endif

typedef enum fault_kind { FAULT_HOST, FAULT_DEVICE } fault_kind_t;

typedef struct oom_fixture {
    cv_runtime_t *rt;
    cv_tenant_t *keeper;      /* another family: must keep serving */
    cv_tensor_t keeper_in[1], keeper_out[1];
    cv_tensor_t in[2];        /* the scenario's inputs: 1 and 2 rows */
    cv_tensor_t want[3];      /* its outputs without failures: wave x2, alone */
    char model_a[600], model_b[600];
} oom_fixture_t;

static const char *repo;

static int find_repo(void **state)
{
    repo = cv_test_demo_repo();
    return 0; /* each test skips with the reason when there is none */
}

static bool have_repo(void) { return repo != NULL; }

static cv_tensor_t input_of(cv_tenant_t *t, int64_t rows, uint64_t seed)
{
    cv_shape_t s = cv_tenant_input_shape(t, 0);
    s.dims[0] = rows;
    cv_tensor_t x;
    assert_int_equal(cv_tensor_alloc(&x, cv_tenant_input_dtype(t, 0), &s), CV_STATUS_OK);
    cv_test_fill_random(&x, seed);
    return x;
}

static void free_outputs(cv_tensor_t *outs, int n)
{
    for (int i = 0; i < n; i++) cv_tensor_free(&outs[i]);
}

/* Loads a and b (one family), runs them as one wave (1 and 2 rows) and b
 * alone, and unloads both whatever happens. On success out[0..2] hold the
 * wave's two outputs and b's alone (the caller frees them). The first
 * failing status is returned with its message. */
static cv_status scenario(oom_fixture_t *f, cv_tensor_t *out, cv_err_t *err)
{
    cv_tenant_t *a = NULL, *b = NULL;
    cv_status st = cv_tenant_load(f->rt, "oom-a", f->model_a, CV_PRECISION_FP32, &a, err);
    if (st == CV_STATUS_OK) st = cv_tenant_load(f->rt, "oom-b", f->model_b, CV_PRECISION_FP32, &b, err);
    memset(out, 0, sizeof(cv_tensor_t) * 3);
    if (st == CV_STATUS_OK) {
        cv_slice_io_t wave[2] = {{a, &f->in[0], &out[0]}, {b, &f->in[1], &out[1]}};
        st = cv_wave_run(f->rt, wave, 2, err);
    }
    if (st == CV_STATUS_OK) st = cv_infer(f->rt, b, &f->in[1], &out[2], err);
    if (st != CV_STATUS_OK) free_outputs(out, 3);
    if (b) cv_tenant_unload(f->rt, b);
    if (a) cv_tenant_unload(f->rt, a);
    return st;
}

static void expect_equal(const cv_tensor_t *got, const cv_tensor_t *want)
{
    assert_true(cv_shape_equal(&got->shape, &want->shape));
    assert_int_equal(got->dtype, want->dtype);
    assert_memory_equal(got->data, want->data, cv_tensor_nbytes(want));
}

static void fixture_init(oom_fixture_t *f, cv_device_t device)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->model_a, sizeof f->model_a, "%s/cnn-a/1/model.onnx", repo);
    snprintf(f->model_b, sizeof f->model_b, "%s/cnn-b/1/model.onnx", repo);
    char keeper[600];
    snprintf(keeper, sizeof keeper, "%s/mlp-a/1/model.onnx", repo);
    cv_err_t err;
    /* On the CPU a new family's profile at load is part of the loop; on
     * CUDA it would run dozens of waves in every iteration. */
    cv_runtime_config_t config = {.device = device, .threads = 2, .no_profile = device != CV_DEVICE_CPU};
    assert_int_equal(cv_runtime_create(&config, &f->rt, &err), CV_STATUS_OK);
    if (cv_tenant_load(f->rt, "keeper", keeper, CV_PRECISION_FP32, &f->keeper, &err) != CV_STATUS_OK)
        fail_msg("%s", err.msg);
    f->keeper_in[0] = input_of(f->keeper, 2, 7);
    /* Three runs: on CUDA a wave shape runs eagerly, is captured, then
     * replays; only then are the caches at their steady size. */
    for (int run = 0; run < 3; run++) {
        if (run) cv_tensor_free(&f->keeper_out[0]);
        assert_int_equal(cv_infer(f->rt, f->keeper, f->keeper_in, f->keeper_out, &err), CV_STATUS_OK);
    }

    /* The scenario without failures: its outputs, and every cache and
     * scratch buffer grown to what the scenario needs, so that any bytes
     * still live after a failed run are a leak. */
    cv_tenant_t *probe;
    assert_int_equal(cv_tenant_load(f->rt, "probe", f->model_a, CV_PRECISION_FP32, &probe, &err), CV_STATUS_OK);
    f->in[0] = input_of(probe, 1, 11);
    f->in[1] = input_of(probe, 2, 12);
    cv_tenant_unload(f->rt, probe);
    if (scenario(f, f->want, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    for (int run = 0; run < 2; run++) {
        cv_tensor_t again[3];
        if (scenario(f, again, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
        for (int i = 0; i < 3; i++) expect_equal(&again[i], &f->want[i]);
        free_outputs(again, 3);
        /* The loop runs the keeper after every scenario: on CUDA its wave
         * shape's graph is refreshed after the scenario's waves, which
         * grows the cache's bookkeeping once. Grown here, not counted as
         * the next iteration's leak. */
        cv_tensor_t keeper_again[1];
        assert_int_equal(cv_infer(f->rt, f->keeper, f->keeper_in, keeper_again, &err), CV_STATUS_OK);
        expect_equal(&keeper_again[0], &f->keeper_out[0]);
        free_outputs(keeper_again, 1);
    }
}

static void fixture_free(oom_fixture_t *f)
{
    free_outputs(f->want, 3);
    free_outputs(f->in, 2);
    free_outputs(f->keeper_in, 1);
    free_outputs(f->keeper_out, 1);
    cv_runtime_destroy(f->rt);
}

static void set_fault(fault_kind_t kind, long n)
{
    if (kind == FAULT_HOST) cv_alloc_fail_after(n);
    else cv_alloc_device_fail_after(n);
}

static long fault_count(fault_kind_t kind)
{
    return kind == FAULT_HOST ? cv_alloc_failures() : cv_alloc_device_failures();
}

/* Device bytes in use, where the device is a GPU (0 on the CPU). */
static size_t device_used(cv_device_t device)
{
#ifdef OOM_ON_CUDA
    if (device == CV_DEVICE_CUDA) {
        size_t free_bytes = 0, total = 0;
        assert_int_equal(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
        return total - free_bytes;
    }
#endif
    return 0;
}

/* The loop itself; returns how many N failed before one survived (the
 * scenario makes N - 1 allocations of that kind). */
static long oom_loop(cv_device_t device, fault_kind_t kind)
{
    oom_fixture_t f;
    fixture_init(&f, device);
    size_t host_baseline = cv_alloc_live_bytes(), device_baseline = device_used(device);
    long n = 1;
    for (;; n++) {
        cv_err_t err = {{0}};
        cv_tensor_t out[3];
        set_fault(kind, n);
        cv_status st = scenario(&f, out, &err);
        long failed = fault_count(kind);
        set_fault(kind, 0);
        if (st == CV_STATUS_OK) {
            /* No failure, or one the backend worked around (a wave that
             * cannot have its CUDA graph runs eagerly): the right answer. */
            for (int i = 0; i < 3; i++) expect_equal(&out[i], &f.want[i]);
            free_outputs(out, 3);
            if (failed == 0) break;
        } else if (failed == 0) {
            fail_msg("N=%ld: no allocation failed, yet: %s", n, err.msg);
        } else if (st != CV_STATUS_OUT_OF_MEMORY || !strstr(err.msg, "out of memory")) {
            fail_msg("N=%ld: status %s, message '%s' (expected out of memory)", n, cv_status_str(st), err.msg);
        }
        if (cv_alloc_live_bytes() != host_baseline)
            fail_msg("N=%ld: %zd host bytes leaked after '%s'", n,
                     (ssize_t)(cv_alloc_live_bytes() - host_baseline), err.msg);
        if (device_used(device) > device_baseline)
            fail_msg("N=%ld: %zu device bytes leaked after '%s'", n, device_used(device) - device_baseline,
                     err.msg);
        /* The runtime still serves a tenant of another family. */
        cv_tensor_t again[1];
        if (cv_infer(f.rt, f.keeper, f.keeper_in, again, &err) != CV_STATUS_OK)
            fail_msg("N=%ld: the other tenant no longer runs: %s", n, err.msg);
        expect_equal(&again[0], &f.keeper_out[0]);
        free_outputs(again, 1);
    }
    fixture_free(&f);
    return n - 1;
}

#ifndef OOM_ON_CUDA
static void test_host_oom_loop_cpu(void **state)
{
    if (!have_repo()) skip();
    long failures = oom_loop(CV_DEVICE_CPU, FAULT_HOST);
    printf("host allocation failures survived on the CPU: %ld\n", failures);
    assert_true(failures > 100); /* loading, planning and the wave all allocate */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_oom_loop_cpu),
    };
    return cmocka_run_group_tests(tests, find_repo, NULL);
}
#endif
