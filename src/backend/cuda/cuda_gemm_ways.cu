/*
 * cuda_gemm_ways.cu: the paper's Table 1 experiment (cuda_gemm_ways.h):
 * R independent FP32 GEMMs, each on its own A, B and C, timed five ways:
 * one after another (time multiplexing), on R streams (space), as one
 * batched launch (space-time, the super-kernel Caravel's waves make), as
 * one grouped launch (R groups of one: what problems of different shapes
 * would take) and as the batched launch on TF32 tensor cores.
 *
 * Its own stream(s) and cuBLAS handle, not the backend's: it measures the
 * ways, not Caravel's runtime. Inputs are filled on the device with a hash
 * (values in [-0.5, 0.5)), so that the GEMMs do real arithmetic.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_gemm_ways.h"
#include "backend/cuda/cuda_internal.h"

#define WARMUP 3

static __global__ void hash_fill(float *p, size_t n, unsigned seed)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        p[i] = (float)(h & 0xffff) / 65536.0f - 0.5f;
    }
}

/* Everything one experiment holds; released by teardown whatever failed. */
typedef struct ways {
    int m, n, k, r;
    cublasHandle_t cublas;
    cudaStream_t *streams; /* r of them; streams[0] times every way */
    cudaEvent_t start, stop, *joins;
    float *block;          /* A, B and C of every problem, one allocation */
    void **tables;         /* device: A, B, C pointers, r each */
    const float **host_a, **host_b;
    float **host_c;
} ways_t;

extern "C" const char *cv_gemm_way_name(cv_gemm_way_t way)
{
    switch (way) {
    case CV_GEMM_TIME: return "time-only";
    case CV_GEMM_SPACE: return "space-only";
    case CV_GEMM_SPACETIME: return "space-time";
    case CV_GEMM_GROUPED: return "grouped";
    case CV_GEMM_SPACETIME_TF32: return "space-time TF32";
    case CV_GEMM_WAYS: break;
    }
    return "?";
}

static void teardown(ways_t *w)
{
    if (w->cublas) cublasDestroy(w->cublas);
    for (int i = 0; w->streams && i < w->r; i++)
        if (w->streams[i]) cudaStreamDestroy(w->streams[i]);
    for (int i = 0; w->joins && i < w->r; i++)
        if (w->joins[i]) cudaEventDestroy(w->joins[i]);
    if (w->start) cudaEventDestroy(w->start);
    if (w->stop) cudaEventDestroy(w->stop);
    if (w->block) cudaFree(w->block);
    if (w->tables) cudaFree(w->tables);
    cv_free(w->streams);
    cv_free(w->joins);
    cv_free(w->host_a);
    cv_free(w->host_b);
    cv_free(w->host_c);
}

static cv_status setup(ways_t *w, int device, cv_err_t *err)
{
    CV_CUDA_CHECK(cudaSetDevice(device), err);
    size_t a = (size_t)w->m * w->k, b = (size_t)w->k * w->n, c = (size_t)w->m * w->n;
    size_t per = a + b + c, total = per * (size_t)w->r;
    w->streams = (cudaStream_t *)cv_calloc((size_t)w->r, sizeof(cudaStream_t));
    w->joins = (cudaEvent_t *)cv_calloc((size_t)w->r, sizeof(cudaEvent_t));
    w->host_a = (const float **)cv_calloc((size_t)w->r, sizeof(float *));
    w->host_b = (const float **)cv_calloc((size_t)w->r, sizeof(float *));
    w->host_c = (float **)cv_calloc((size_t)w->r, sizeof(float *));
    if (!w->streams || !w->joins || !w->host_a || !w->host_b || !w->host_c)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of host memory for %d GEMM problems", w->r);
    for (int i = 0; i < w->r; i++) {
        CV_CUDA_CHECK(cudaStreamCreateWithFlags(&w->streams[i], cudaStreamNonBlocking), err);
        CV_CUDA_CHECK(cudaEventCreateWithFlags(&w->joins[i], cudaEventDisableTiming), err);
    }
    CV_CUDA_CHECK(cudaEventCreate(&w->start), err);
    CV_CUDA_CHECK(cudaEventCreate(&w->stop), err);
    CV_CUBLAS_CHECK(cublasCreate(&w->cublas), err);
    CV_CUDA_CHECK(cudaMalloc((void **)&w->block, total * sizeof(float)), err);
    CV_CUDA_CHECK(cudaMalloc((void **)&w->tables, 3 * sizeof(void *) * (size_t)w->r), err);
    hash_fill<<<1024, 256, 0, w->streams[0]>>>(w->block, total, 12345u);
    CV_CUDA_CHECK(cudaGetLastError(), err);
    void **host_tables = (void **)cv_malloc(3 * sizeof(void *) * (size_t)w->r);
    if (!host_tables) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of host memory for pointer tables");
    for (int i = 0; i < w->r; i++) {
        float *base = w->block + per * (size_t)i;
        w->host_a[i] = base;
        w->host_b[i] = base + a;
        w->host_c[i] = base + a + b;
        host_tables[i] = base;
        host_tables[w->r + i] = base + a;
        host_tables[2 * w->r + i] = base + a + b;
    }
    cudaError_t e = cudaMemcpy(w->tables, host_tables, 3 * sizeof(void *) * (size_t)w->r, cudaMemcpyHostToDevice);
    cv_free(host_tables);
    CV_CUDA_CHECK(e, err);
    CV_CUDA_CHECK(cudaStreamSynchronize(w->streams[0]), err);
    return CV_STATUS_OK;
}

/* Enqueues one repetition of `way` between the start and stop events of
 * streams[0]; *supported false (nothing enqueued) where cuBLAS lacks it. */
static cv_status enqueue(ways_t *w, cv_gemm_way_t way, bool *supported, cv_err_t *err)
{
    const float one = 1.0f, zero = 0.0f;
    int m = w->m, n = w->n, k = w->k, r = w->r;
    cudaStream_t s0 = w->streams[0];
    const void *const *ta = (const void *const *)w->tables;
    *supported = true;
    CV_CUDA_CHECK(cudaEventRecord(w->start, s0), err);
    switch (way) {
    case CV_GEMM_TIME:
        CV_CUBLAS_CHECK(cublasSetStream(w->cublas, s0), err);
        for (int i = 0; i < r; i++)
            CV_CUBLAS_CHECK(cublasSgemm(w->cublas, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, w->host_a[i], m,
                                        w->host_b[i], k, &zero, w->host_c[i], m),
                            err);
        break;
    case CV_GEMM_SPACE:
        for (int i = 1; i < r; i++) CV_CUDA_CHECK(cudaStreamWaitEvent(w->streams[i], w->start, 0), err);
        for (int i = 0; i < r; i++) {
            CV_CUBLAS_CHECK(cublasSetStream(w->cublas, w->streams[i]), err);
            CV_CUBLAS_CHECK(cublasSgemm(w->cublas, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, w->host_a[i], m,
                                        w->host_b[i], k, &zero, w->host_c[i], m),
                            err);
        }
        for (int i = 1; i < r; i++) {
            CV_CUDA_CHECK(cudaEventRecord(w->joins[i], w->streams[i]), err);
            CV_CUDA_CHECK(cudaStreamWaitEvent(s0, w->joins[i], 0), err);
        }
        CV_CUBLAS_CHECK(cublasSetStream(w->cublas, s0), err);
        break;
    case CV_GEMM_SPACETIME:
    case CV_GEMM_SPACETIME_TF32:
        CV_CUBLAS_CHECK(cublasSetStream(w->cublas, s0), err);
        CV_CUBLAS_CHECK(cublasGemmBatchedEx(w->cublas, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, ta, CUDA_R_32F, m,
                                            ta + r, CUDA_R_32F, k, &zero, (void *const *)(w->tables + 2 * r),
                                            CUDA_R_32F, m, r,
                                            way == CV_GEMM_SPACETIME ? CUBLAS_COMPUTE_32F
                                                                     : CUBLAS_COMPUTE_32F_FAST_TF32,
                                            CUBLAS_GEMM_DEFAULT),
                        err);
        break;
    case CV_GEMM_GROUPED: {
        CV_CUBLAS_CHECK(cublasSetStream(w->cublas, s0), err);
        cublasOperation_t *ops = (cublasOperation_t *)cv_malloc(sizeof(cublasOperation_t) * (size_t)r);
        int *dims = (int *)cv_malloc(sizeof(int) * 7 * (size_t)r);
        float *scale = (float *)cv_malloc(sizeof(float) * 2 * (size_t)r);
        if (!ops || !dims || !scale) {
            cv_free(ops);
            cv_free(dims);
            cv_free(scale);
            return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of host memory for the grouped call's arrays");
        }
        int *ms = dims, *ns = dims + r, *ks = dims + 2 * r, *lda = dims + 3 * r, *ldb = dims + 4 * r,
            *ldc = dims + 5 * r, *size = dims + 6 * r;
        for (int i = 0; i < r; i++) {
            ops[i] = CUBLAS_OP_N;
            ms[i] = m, ns[i] = n, ks[i] = k, lda[i] = m, ldb[i] = k, ldc[i] = m, size[i] = 1;
            scale[i] = 1.0f;
            scale[r + i] = 0.0f;
        }
        cublasStatus_t bs = cublasGemmGroupedBatchedEx(w->cublas, ops, ops, ms, ns, ks, scale, ta, CUDA_R_32F, lda,
                                                       ta + r, CUDA_R_32F, ldb, scale + r,
                                                       (void *const *)(w->tables + 2 * r), CUDA_R_32F, ldc, r,
                                                       size, CUBLAS_COMPUTE_32F);
        cv_free(ops);
        cv_free(dims);
        cv_free(scale);
        if (bs == CUBLAS_STATUS_NOT_SUPPORTED) *supported = false;
        else CV_CUBLAS_CHECK(bs, err);
        break;
    }
    case CV_GEMM_WAYS: break;
    }
    CV_CUDA_CHECK(cudaEventRecord(w->stop, s0), err);
    return CV_STATUS_OK;
}

static int compare_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

static cv_status time_way(ways_t *w, cv_gemm_way_t way, int reps, double *ms, cv_err_t *err)
{
    double *times = (double *)cv_malloc(sizeof(double) * (size_t)reps);
    if (!times) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of host memory for timings");
    cv_status st = CV_STATUS_OK;
    *ms = NAN;
    for (int rep = -WARMUP; rep < reps && st == CV_STATUS_OK; rep++) {
        bool supported;
        st = enqueue(w, way, &supported, err);
        if (st != CV_STATUS_OK || !supported) break;
        cudaError_t e = cudaEventSynchronize(w->stop);
        float t = 0;
        if (e == cudaSuccess) e = cudaEventElapsedTime(&t, w->start, w->stop);
        if (e != cudaSuccess) st = cv_cuda_status(e, "timing a repetition", __FILE__, __LINE__, err);
        else if (rep >= 0) times[rep] = t;
        if (st == CV_STATUS_OK && rep == reps - 1) {
            qsort(times, (size_t)reps, sizeof(double), compare_double);
            *ms = times[reps / 2];
        }
    }
    cv_free(times);
    return st;
}

extern "C" cv_status cv_cuda_gemm_ways(int device, int m, int n, int k, int r, int reps, double ms[CV_GEMM_WAYS],
                                       cv_err_t *err)
{
    if (m < 1 || n < 1 || k < 1 || r < 1 || reps < 1)
        return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "GEMM ways need m, n, k, R and repetitions >= 1");
    ways_t w;
    memset(&w, 0, sizeof w);
    w.m = m, w.n = n, w.k = k, w.r = r;
    cv_status st = setup(&w, device, err);
    for (int way = 0; way < CV_GEMM_WAYS; way++) {
        ms[way] = NAN;
        if (st == CV_STATUS_OK) st = time_way(&w, (cv_gemm_way_t)way, reps, &ms[way], err);
    }
    if (w.streams) cudaDeviceSynchronize();
    teardown(&w);
    return st;
}
