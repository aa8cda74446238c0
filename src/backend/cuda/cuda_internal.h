/*
 * cuda_internal.h: what the CUDA backend's files share: the backend context
 * (device, stream, cuBLAS handle, workspaces), the checks every CUDA call
 * goes through, and the per-op entry points.
 *
 * Three levels per op (as in ggml): a __global__ kernel, a launcher taking an
 * explicit cudaStream_t, and the op entry cv_cuda_<stem>(cuda, run, err)
 * that reads the step (node, tensors, slices) and launches. Never the legacy
 * default stream.
 *
 * Included from .cu files (nvcc, C++) and .c files (gcc, C11).
 */
#ifndef CV_CUDA_INTERNAL_H
#define CV_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "backend/backend.h"

typedef struct cv_cuda {
    cv_backend_t base;
    int device;
    cudaStream_t stream;       /* every launch and copy of this backend */
    cublasHandle_t cublas;     /* bound to `stream` */
    /* Device scratch (im2col columns, converted GEMM operands), grown on
     * demand and reused by every step; valid until the next step. */
    void *workspace;
    size_t workspace_bytes;
    /* Pinned host staging for pointer tables of batched GEMMs and for
     * small uploads; a device twin receives them with one async copy. */
    void *pinned;
    void *pinned_device;
    size_t pinned_bytes;
    /* Steps that ran on the host because no CUDA kernel exists, per op. */
    long fallbacks[CV_OP_COUNT];
} cv_cuda_t;

/* Device scratch of at least `bytes` (NULL on failure: the caller returns
 * CV_STATUS_OUT_OF_MEMORY). May synchronise the stream to grow. */
void *cv_cuda_workspace(cv_cuda_t *cuda, size_t bytes);

/* Room for `bytes` of per-step tables (pointer tables of batched GEMMs,
 * per-row parameter pointers) in pinned host memory, and the device
 * address its twin will have: the caller fills *host, then copies it with
 * one cudaMemcpyAsync(*device, *host, bytes, H2D, cuda->stream). A linear
 * allocator, reset when the wave synchronises, so tables of steps still in
 * flight are never overwritten; one call per step (a call that must grow
 * waits for the stream first, which ends earlier tables' lives). */
cv_status cv_cuda_stage(cv_cuda_t *cuda, size_t bytes, void **host, void **device, cv_err_t *err);

/* Runs a step on the host: downloads its inputs, runs the op's CPU kernel
 * (per slice for weighted steps, as the CPU backend does), uploads its
 * outputs; counted in cuda->fallbacks. For ops without a CUDA entry, and
 * for cases an entry does not handle (a dtype, a rank). */
cv_status cv_cuda_run_on_host(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err);

/* A tenant's constants table (tenant_upload) holds 2 * nvalues + 1
 * entries: [v] the device copy of constant v in its own dtype (FP32 stays
 * FP32 whatever the precision, so every kernel reads what the plan says);
 * [nvalues + v] for FP16/BF16 tenants, the half copy of a weight that a
 * GEMM-like step reads as its second input (Conv W, Gemm B, MatMul B),
 * else NULL; [2 * nvalues] the device block that holds them all. */
static inline const void *cv_cuda_half_constant(void *const *constants, const cv_graph_t *g, int v)
{
    return constants[g->nvalues + v];
}

/* Checks a CUDA runtime call; on failure sets err and returns the status
 * from the enclosing function. cudaErrorMemoryAllocation becomes
 * CV_STATUS_OUT_OF_MEMORY, anything else CV_STATUS_INTERNAL. */
cv_status cv_cuda_status(cudaError_t e, const char *what, const char *file, int line, cv_err_t *err);
cv_status cv_cublas_status(cublasStatus_t s, const char *what, const char *file, int line, cv_err_t *err);
#define CV_CUDA_CHECK(call, err)                                                         \
    do {                                                                                 \
        cudaError_t cv_e_ = (call);                                                      \
        if (cv_e_ != cudaSuccess) return cv_cuda_status(cv_e_, #call, __FILE__, __LINE__, err); \
    } while (0)
#define CV_CUBLAS_CHECK(call, err)                                                       \
    do {                                                                                 \
        cublasStatus_t cv_s_ = (call);                                                   \
        if (cv_s_ != CUBLAS_STATUS_SUCCESS)                                              \
            return cv_cublas_status(cv_s_, #call, __FILE__, __LINE__, err);              \
    } while (0)
/* After every launch: catches launch-configuration errors at once. */
#define CV_CUDA_CHECK_LAUNCH(err) CV_CUDA_CHECK(cudaGetLastError(), err)

/* Op entry points, one per op of CV_OP_LIST that has a CUDA kernel. An op
 * without one runs on the host (copy in, CPU kernel, copy out), counted in
 * cuda->fallbacks. */
#define CV_CUDA_OP_DECL(id, onnx, stem)                                                  \
    cv_status cv_cuda_##stem(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err);
CV_OP_LIST(CV_CUDA_OP_DECL)
#undef CV_CUDA_OP_DECL

#ifdef __cplusplus
}
#endif
#endif /* CV_CUDA_INTERNAL_H */
