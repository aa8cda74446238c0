/*
 * test_threads.c: the CPU thread pool (src/core/threads.c) and the kernels
 * that split their work over it.
 *
 * The pool: every task of every run executes exactly once, on a thread
 * index in range that no other task holds at the same time; runs from
 * inside a task run inline; a pool of one thread and a NULL pool run on
 * the caller; creation fails cleanly without memory. The kernels: Conv
 * (each FP32 path and each way of cutting it), pools, Gemm and the
 * elementwise loops give bit-identical results with 1, 2, 3 and 4 threads,
 * and match naive reference loops written here.
 */
#include "opcase.h"

#include "backend/backend.h"
#include "backend/cpu/cpu.h"
#include "core/threads.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* ---- the pool ------------------------------------------------------------- */

#define MAX_TASKS 64
#define MAX_THREADS 4

typedef struct count_job {
    atomic_int runs[MAX_TASKS];      /* times each task ran */
    atomic_int busy[MAX_THREADS];    /* tasks running now per thread index */
    atomic_int overlaps;             /* a thread index held by two tasks at once */
    atomic_int bad_thread;           /* a thread index out of range */
    int threads;
    bool slow;                       /* some tasks sleep, as a preempted thread would */
} count_job_t;

static void count_task(void *ctx, int64_t t, int thread)
{
    count_job_t *j = ctx;
    if (thread < 0 || thread >= j->threads) {
        atomic_fetch_add(&j->bad_thread, 1);
        return;
    }
    if (atomic_fetch_add(&j->busy[thread], 1) != 0) atomic_fetch_add(&j->overlaps, 1);
    if (j->slow && t % 7 == 3) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&j->runs[t], 1);
    atomic_fetch_sub(&j->busy[thread], 1);
}

static void check_runs(cv_pool_t *pool, int threads, int nruns, bool slow)
{
    static count_job_t j;
    for (int r = 0; r < nruns; r++) {
        int64_t ntasks = (r * 7) % (MAX_TASKS + 1); /* 0 .. MAX_TASKS, 1 included */
        memset(&j, 0, sizeof(j));
        j.threads = threads;
        j.slow = slow;
        cv_pool_run(pool, ntasks, count_task, &j);
        for (int64_t t = 0; t < MAX_TASKS; t++) {
            int want = t < ntasks ? 1 : 0, got = atomic_load(&j.runs[t]);
            if (got != want)
                fail_msg("%d threads, run %d of %lld tasks: task %lld ran %d times", threads, r,
                         (long long)ntasks, (long long)t, got);
        }
        assert_int_equal(atomic_load(&j.overlaps), 0);
        assert_int_equal(atomic_load(&j.bad_thread), 0);
    }
}

static void test_pool_every_task_once(void **state)
{
    for (int threads = 1; threads <= MAX_THREADS; threads++) {
        cv_pool_t *pool = NULL;
        cv_err_t err;
        assert_int_equal(cv_pool_create(threads, &pool, &err), CV_STATUS_OK);
        assert_non_null(pool);
        assert_int_equal(cv_pool_threads(pool), threads);
        check_runs(pool, threads, 3000, false);
        cv_pool_destroy(pool);
    }
}

/* Runs spaced out so that workers fall asleep between them, and tasks that
 * sleep: the pool must neither lose a wake-up nor return early. */
static void test_pool_sleeping_workers_and_slow_tasks(void **state)
{
    for (int threads = 2; threads <= 3; threads++) {
        cv_pool_t *pool = NULL;
        cv_err_t err;
        assert_int_equal(cv_pool_create(threads, &pool, &err), CV_STATUS_OK);
        for (int r = 0; r < 8; r++) {
            struct timespec ts = {0, 2000000}; /* past the workers' spin */
            nanosleep(&ts, NULL);
            check_runs(pool, threads, 3, true);
        }
        cv_pool_destroy(pool);
    }
}

static void test_pool_null_runs_inline(void **state)
{
    static count_job_t j;
    memset(&j, 0, sizeof(j));
    j.threads = 1; /* thread index must be 0 */
    assert_int_equal(cv_pool_threads(NULL), 1);
    cv_pool_run(NULL, 10, count_task, &j);
    for (int t = 0; t < 10; t++) assert_int_equal(atomic_load(&j.runs[t]), 1);
    assert_int_equal(atomic_load(&j.bad_thread), 0);
    cv_pool_destroy(NULL);
}

/* Nested runs: a task that runs the pool again gets its inner tasks run
 * inline, on its own thread index. */
typedef struct nested_job {
    cv_pool_t *pool;
    atomic_int inner_runs[8][8];
    atomic_int wrong_thread;
} nested_job_t;

typedef struct inner_ctx {
    nested_job_t *job;
    int64_t outer;
    int thread;
} inner_ctx_t;

static void inner_task(void *ctx, int64_t t, int thread)
{
    inner_ctx_t *c = ctx;
    if (thread != c->thread) atomic_fetch_add(&c->job->wrong_thread, 1);
    atomic_fetch_add(&c->job->inner_runs[c->outer][t], 1);
}

static void outer_task(void *ctx, int64_t t, int thread)
{
    nested_job_t *j = ctx;
    inner_ctx_t c = {j, t, thread};
    cv_pool_run(j->pool, 8, inner_task, &c);
}

static void test_pool_nested_runs_inline(void **state)
{
    for (int threads = 1; threads <= MAX_THREADS; threads++) {
        cv_pool_t *pool = NULL;
        cv_err_t err;
        assert_int_equal(cv_pool_create(threads, &pool, &err), CV_STATUS_OK);
        for (int r = 0; r < 200; r++) {
            static nested_job_t j;
            memset(&j, 0, sizeof(j));
            j.pool = pool;
            cv_pool_run(pool, 8, outer_task, &j);
            for (int o = 0; o < 8; o++)
                for (int i = 0; i < 8; i++) assert_int_equal(atomic_load(&j.inner_runs[o][i]), 1);
            assert_int_equal(atomic_load(&j.wrong_thread), 0);
        }
        cv_pool_destroy(pool);
    }
}

static void test_pool_range(void **state)
{
    const int64_t ns[] = {0, 1, 15, 16, 17, 100, 1000, 12544};
    const int64_t aligns[] = {1, 16, 64};
    for (size_t a = 0; a < CV_ARRAY_LEN(ns); a++)
        for (size_t b = 0; b < CV_ARRAY_LEN(aligns); b++)
            for (int64_t ntasks = 1; ntasks <= 9; ntasks++) {
                int64_t n = ns[a], align = aligns[b], next = 0;
                for (int64_t t = 0; t < ntasks; t++) {
                    int64_t lo, hi;
                    cv_pool_range(n, ntasks, align, t, &lo, &hi);
                    if (hi > lo) {
                        assert_int_equal(lo, next); /* contiguous, in order */
                        assert_int_equal(lo % align, 0);
                        next = hi;
                    }
                    assert_true(lo >= 0 && hi <= n);
                }
                assert_int_equal(next, n); /* covers [0, n) */
            }
}

static void test_pool_create_out_of_memory(void **state)
{
    size_t live = cv_alloc_live_bytes();
    for (long fail = 1; fail <= 2; fail++) {
        cv_pool_t *pool = (cv_pool_t *)&fail;
        cv_err_t err = {{0}};
        cv_alloc_fail_after(fail);
        cv_status st = cv_pool_create(3, &pool, &err);
        cv_alloc_fail_after(0);
        assert_int_equal(st, CV_STATUS_OUT_OF_MEMORY);
        assert_null(pool);
        assert_non_null(strstr(err.msg, "out of memory"));
        assert_int_equal(cv_alloc_live_bytes(), live);
    }
}

/* ---- kernels: same bits with 1..4 threads ------------------------------- */

/* Runs shape inference, then the kernel in the context of a CPU backend of
 * `threads` threads (1: no pool), into outputs filled with NaN so that an
 * element no task writes shows. */
static void run_with_threads(cv_test_case_t *c, int threads, cv_tensor_t *outs)
{
    const cv_tensor_t *ins[CV_TEST_MAX_IO];
    cv_tensor_t *out_ptrs[CV_TEST_MAX_IO];
    for (int i = 0; i < c->nin; i++) ins[i] = &c->in[i];
    for (int i = 0; i < c->nout; i++) out_ptrs[i] = &outs[i];
    cv_err_t err = {{0}};
    cv_op_args_t args = {&c->node, ins, c->nin, out_ptrs, c->nout, NULL};
    cv_status st = cv_op_def(c->node.op)->infer(&args, &err);
    if (st != CV_STATUS_OK) fail_msg("infer: %s", err.msg);
    for (int i = 0; i < c->nout; i++) {
        cv_shape_t s = outs[i].shape;
        assert_int_equal(cv_tensor_alloc(&outs[i], outs[i].dtype, &s), CV_STATUS_OK);
        memset(outs[i].data, 0xff, cv_tensor_nbytes(&outs[i]));
    }
    cv_backend_t *backend = NULL;
    assert_int_equal(cv_backend_cpu_create(threads, &backend, &err), CV_STATUS_OK);
    args.cpu = cv_backend_cpu_ctx(backend);
    assert_int_equal(cv_pool_threads(args.cpu->pool), threads);
    /* Twice: the second run finds the workers awake and the scratch grown. */
    for (int rep = 0; rep < 2; rep++) {
        st = cv_op_def(c->node.op)->cpu(&args, &err);
        if (st != CV_STATUS_OK) fail_msg("kernel: %s", err.msg);
    }
    backend->iface->destroy(backend);
}

/* Runs the case with 1 thread into c->out, then with 2, 3 and 4 threads,
 * each of which must give the same bits. */
static void run_all_thread_counts(cv_test_case_t *c)
{
    run_with_threads(c, 1, c->out);
    for (int threads = 2; threads <= MAX_THREADS; threads++) {
        cv_tensor_t outs[CV_TEST_MAX_IO];
        memset(outs, 0, sizeof(outs));
        run_with_threads(c, threads, outs);
        for (int i = 0; i < c->nout; i++) {
            size_t bytes = cv_tensor_nbytes(&c->out[i]);
            assert_int_equal(cv_tensor_nbytes(&outs[i]), bytes);
            if (memcmp(outs[i].data, c->out[i].data, bytes) != 0) {
                const float *a = c->out[i].data, *b = outs[i].data;
                int64_t n = cv_shape_numel(&outs[i].shape), k = 0;
                while (k < n && memcmp(&a[k], &b[k], sizeof(float)) == 0) k++;
                fail_msg("%s output %d: %d threads differ from 1 at element %lld (%.9g vs %.9g)",
                         cv_op_name(c->node.op), i, threads, (long long)k, b[k], a[k]);
            }
            cv_tensor_free(&outs[i]);
        }
    }
}

/* ---- Conv ------------------------------------------------------------------ */

typedef struct conv_spec {
    int64_t n, c, h, w, m, k, stride, pad, group;
    bool bias;
    cv_activation_t act;
} conv_spec_t;

/* Y [N, M, OH, OW] of a square-kernel 2-D conv, in double. */
static double *conv_reference(const conv_spec_t *s, const float *x, const float *w, const float *b,
                              int64_t oh, int64_t ow)
{
    int64_t cg = s->c / s->group, mg = s->m / s->group;
    double *y = calloc((size_t)(s->n * s->m * oh * ow), sizeof(double));
    assert_non_null(y);
    for (int64_t n = 0; n < s->n; n++)
        for (int64_t m = 0; m < s->m; m++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double acc = b ? b[m] : 0.0;
                    int64_t g = m / mg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ky = 0; ky < s->k; ky++)
                            for (int64_t kx = 0; kx < s->k; kx++) {
                                int64_t yy = i * s->stride + ky - s->pad;
                                int64_t xx = j * s->stride + kx - s->pad;
                                if (yy < 0 || yy >= s->h || xx < 0 || xx >= s->w) continue;
                                int64_t xi = ((n * s->c + g * cg + ci) * s->h + yy) * s->w + xx;
                                acc += (double)x[xi] * w[((m * cg + ci) * s->k + ky) * s->k + kx];
                            }
                    if (s->act == CV_ACTIVATION_RELU) acc = fmax(acc, 0.0);
                    if (s->act == CV_ACTIVATION_CLIP) acc = fmin(fmax(acc, 0.0), 6.0);
                    y[((n * s->m + m) * oh + i) * ow + j] = acc;
                }
    return y;
}

static void check_conv(const conv_spec_t *s)
{
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_CONV, 1);
    int64_t xd[4] = {s->n, s->c, s->h, s->w}, wd[4] = {s->m, s->c / s->group, s->k, s->k};
    int64_t bd[1] = {s->m};
    int64_t strides[2] = {s->stride, s->stride}, pads[4] = {s->pad, s->pad, s->pad, s->pad};
    int64_t ks[2] = {s->k, s->k};
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 11);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, wd, 12);
    if (s->bias) cv_test_add_random(&c, CV_DTYPE_FP32, 1, bd, 13);
    cv_test_attr_ints(&c, "kernel_shape", ks, 2);
    cv_test_attr_ints(&c, "strides", strides, 2);
    cv_test_attr_ints(&c, "pads", pads, 4);
    cv_test_attr_int(&c, "group", s->group);
    c.node.activation = s->act;
    c.node.clip_min = 0.0f;
    c.node.clip_max = 6.0f;
    run_all_thread_counts(&c);
    int64_t oh = c.out[0].shape.dims[2], ow = c.out[0].shape.dims[3];
    double *want = conv_reference(s, c.in[0].data, c.in[1].data, s->bias ? c.in[2].data : NULL,
                                  oh, ow);
    cv_test_expect_close(&c.out[0], want, s->n * s->m * oh * ow, 1e-4);
    free(want);
    cv_test_case_free(&c);
}

static void test_conv_same_bits_any_threads(void **state)
{
    const conv_spec_t specs[] = {
        /* pointwise: wide output (column blocks), narrow (row blocks), middle,
         * a 1x1 plane (gemv by rows), two batch rows, no bias */
        {1, 16, 40, 40, 24, 1, 1, 0, 1, true, CV_ACTIVATION_CLIP},
        {1, 64, 7, 7, 256, 1, 1, 0, 1, true, CV_ACTIVATION_RELU},
        {1, 96, 14, 14, 32, 1, 1, 0, 1, true, CV_ACTIVATION_NONE},
        {1, 256, 1, 1, 512, 1, 1, 0, 1, true, CV_ACTIVATION_RELU},
        {2, 32, 17, 17, 48, 1, 1, 0, 1, false, CV_ACTIVATION_NONE},
        /* depthwise: 3x3 at stride 1 and 2, odd sizes, a generic 5x5 */
        {1, 32, 28, 28, 32, 3, 1, 1, 32, true, CV_ACTIVATION_CLIP},
        {1, 24, 31, 29, 24, 3, 2, 1, 24, true, CV_ACTIVATION_RELU},
        {2, 16, 20, 20, 16, 5, 1, 2, 16, false, CV_ACTIVATION_NONE},
        /* im2col: bands (wide), the whole matrix with row blocks (narrow,
         * many channels), stride 2 on 3 channels, groups */
        {1, 8, 45, 45, 16, 3, 1, 1, 1, true, CV_ACTIVATION_RELU},
        {1, 32, 9, 9, 192, 3, 1, 1, 1, true, CV_ACTIVATION_RELU},
        {1, 3, 64, 64, 32, 3, 2, 1, 1, true, CV_ACTIVATION_CLIP},
        {1, 32, 20, 20, 64, 3, 1, 1, 4, false, CV_ACTIVATION_NONE},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(specs); i++) check_conv(&specs[i]);
}

/* ---- pools -------------------------------------------------------------------- */

static void test_pools_same_bits_any_threads(void **state)
{
    const int64_t k3[2] = {3, 3}, k2[2] = {2, 2}, s2[2] = {2, 2}, s1[2] = {1, 1};
    const int64_t p1[4] = {1, 1, 1, 1};

    /* MaxPool 3x3 stride 2 (separable), checked against a direct max */
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_MAX_POOL, 1);
    int64_t xd[4] = {1, 64, 55, 55};
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 21);
    cv_test_attr_ints(&c, "kernel_shape", k3, 2);
    cv_test_attr_ints(&c, "strides", s2, 2);
    run_all_thread_counts(&c);
    {
        const float *x = c.in[0].data;
        int64_t oh = c.out[0].shape.dims[2], ow = c.out[0].shape.dims[3];
        double *want = calloc((size_t)(64 * oh * ow), sizeof(double));
        assert_non_null(want);
        for (int64_t p = 0; p < 64; p++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double v = -INFINITY;
                    for (int64_t a = 0; a < 3; a++)
                        for (int64_t b = 0; b < 3; b++)
                            v = fmax(v, x[(p * 55 + 2 * i + a) * 55 + 2 * j + b]);
                    want[(p * oh + i) * ow + j] = v;
                }
        cv_test_expect_close(&c.out[0], want, 64 * oh * ow, 0.0);
        free(want);
    }
    cv_test_case_free(&c);

    /* AveragePool 3x3 stride 1 with padding, pads not counted */
    cv_test_case_init(&c, CV_OP_AVERAGE_POOL, 1);
    int64_t ad[4] = {1, 32, 30, 30};
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, ad, 22);
    cv_test_attr_ints(&c, "kernel_shape", k3, 2);
    cv_test_attr_ints(&c, "strides", s1, 2);
    cv_test_attr_ints(&c, "pads", p1, 4);
    run_all_thread_counts(&c);
    cv_test_case_free(&c);

    /* MaxPool with Indices (the direct path) */
    cv_test_case_init(&c, CV_OP_MAX_POOL, 2);
    int64_t md[4] = {2, 16, 32, 32};
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, md, 23);
    cv_test_attr_ints(&c, "kernel_shape", k2, 2);
    cv_test_attr_ints(&c, "strides", s2, 2);
    run_all_thread_counts(&c);
    cv_test_case_free(&c);

    /* GlobalAveragePool */
    cv_test_case_init(&c, CV_OP_GLOBAL_AVERAGE_POOL, 1);
    int64_t gd[4] = {1, 256, 17, 17};
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, gd, 24);
    run_all_thread_counts(&c);
    {
        const float *x = c.in[0].data;
        double want[256];
        for (int p = 0; p < 256; p++) {
            double sum = 0;
            for (int i = 0; i < 17 * 17; i++) sum += x[p * 17 * 17 + i];
            want[p] = sum / (17 * 17);
        }
        cv_test_expect_close(&c.out[0], want, 256, 1e-5);
    }
    cv_test_case_free(&c);
}

/* ---- Gemm and elementwise ---------------------------------------------------- */

static void test_gemm_same_bits_any_threads(void **state)
{
    /* A batch-1 classifier: gemv over blocks of B's rows. */
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_GEMM, 1);
    int64_t ad[2] = {1, 512}, bd[2] = {1000, 512}, cd[1] = {1000};
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, ad, 31);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, bd, 32);
    cv_test_add_random(&c, CV_DTYPE_FP32, 1, cd, 33);
    cv_test_attr_int(&c, "transB", 1);
    run_all_thread_counts(&c);
    {
        const float *a = c.in[0].data, *b = c.in[1].data, *bias = c.in[2].data;
        double want[1000];
        for (int j = 0; j < 1000; j++) {
            double acc = bias[j];
            for (int k = 0; k < 512; k++) acc += (double)a[k] * b[j * 512 + k];
            want[j] = acc;
        }
        cv_test_expect_close(&c.out[0], want, 1000, 1e-4);
    }
    cv_test_case_free(&c);

    /* A real GEMM, cut by rows. */
    cv_test_case_init(&c, CV_OP_GEMM, 1);
    int64_t a2[2] = {300, 128}, b2[2] = {128, 200};
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, a2, 34);
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, b2, 35);
    run_all_thread_counts(&c);
    cv_test_case_free(&c);
}

static void test_elementwise_same_bits_any_threads(void **state)
{
    /* Add with a per-channel operand: ranges cut runs in the middle. */
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_ADD, 1);
    int64_t xd[4] = {1, 64, 41, 39}, bd[4] = {1, 64, 1, 1};
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, xd, 41);
    cv_test_add_random(&c, CV_DTYPE_FP32, 4, bd, 42);
    run_all_thread_counts(&c);
    {
        const float *x = c.in[0].data, *b = c.in[1].data, *y = c.out[0].data;
        for (int64_t i = 0; i < 64 * 41 * 39; i++) assert_true(y[i] == x[i] + b[i / (41 * 39)]);
    }
    cv_test_case_free(&c);

    /* Relu over a long run. */
    cv_test_case_init(&c, CV_OP_RELU, 1);
    int64_t rd[2] = {3, 40001};
    cv_test_add_random(&c, CV_DTYPE_FP32, 2, rd, 43);
    run_all_thread_counts(&c);
    {
        const float *x = c.in[0].data, *y = c.out[0].data;
        for (int64_t i = 0; i < 3 * 40001; i++) assert_true(y[i] == (x[i] < 0 ? 0.0f : x[i]));
    }
    cv_test_case_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_every_task_once),
        cmocka_unit_test(test_pool_sleeping_workers_and_slow_tasks),
        cmocka_unit_test(test_pool_null_runs_inline),
        cmocka_unit_test(test_pool_nested_runs_inline),
        cmocka_unit_test(test_pool_range),
        cmocka_unit_test(test_pool_create_out_of_memory),
        cmocka_unit_test(test_conv_same_bits_any_threads),
        cmocka_unit_test(test_pools_same_bits_any_threads),
        cmocka_unit_test(test_gemm_same_bits_any_threads),
        cmocka_unit_test(test_elementwise_same_bits_any_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
