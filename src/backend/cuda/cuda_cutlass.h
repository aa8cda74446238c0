/*
 * cuda_cutlass.h: the conv GEMMs with a fused epilogue (cuda_cutlass.cu)
 * and the FP32 conv GEMMs in 3xTF32 (cuda_cutlass_fp32.cu), as the conv
 * path of cuda_gemm.cu calls them: plain C descriptions of one batched
 * GEMM whose operands are device tables of pointers.
 */
#ifndef CV_CUDA_CUTLASS_H
#define CV_CUDA_CUTLASS_H

#include "backend/cuda/cuda_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* D_l = clamp(A_l B_l + bias_l + C_l, lo, hi) for l < batch, each an
 * M x N product over K: A_l M x K (K contiguous: a tenant's W), B_l K x N
 * (N contiguous: pixel columns or a 1x1's input; b_k_major: K contiguous,
 * the tap columns of small planes), C_l (the residual) and D_l M x N with
 * N contiguous. a, b, c, d, bias: device tables of `batch` pointers each
 * (c, bias: NULL for none); every pointer 16-byte aligned, except C's and
 * D's when b_k_major (element-aligned). The elements are prec's (FP16;
 * TF32 with cd_m_major: A and B FP32 read as TF32, C and D FP32), the
 * bias FP32. */
typedef struct cv_cutlass_conv {
    int device;
    cv_precision_t prec;
    int64_t m, n, k, batch;
    bool b_k_major;
    /* C_l and D_l M x N with M contiguous instead (a Y stored channels
     * innermost, [P, M] a row; leading dimension M, 16 bytes of M): written
     * through TMA like the planes of 16-byte rows; needs b_k_major and
     * 16-byte aligned pointers. */
    bool cd_m_major;
    const void *const *a, *const *b, *const *c;
    void *const *d;
    const float *const *bias;
    float lo, hi;            /* the clamp; -FLT_MAX, FLT_MAX: none */
    void *workspace;         /* cv_cutlass_conv_workspace bytes, device */
    size_t workspace_bytes;
} cv_cutlass_conv_t;

/* Whether this build has the kernels (CUTLASS headers found). */
bool cv_cutlass_available(void);
/* Whether `device` is a Hopper (sm_90), the one target the kernels of
 * both files are built for; false without them. */
bool cv_cutlass_device_is_hopper(int device);
/* Whether a kernel takes these extents and this precision on c->device. */
bool cv_cutlass_conv_fits(const cv_cutlass_conv_t *c);
size_t cv_cutlass_conv_workspace(const cv_cutlass_conv_t *c);
/* Launches on `stream` (capturable); a status if CUTLASS refuses it. */
cv_status cv_cutlass_conv_run(const cv_cutlass_conv_t *c, cudaStream_t stream, cv_err_t *err);

/* D_l = A_l B_l for l < batch, FP32 in and out, on the tensor cores
 * (cuda_cutlass_fp32.cu): at FP32's accuracy (3xTF32), or in one TF32
 * product where tf32 (a TF32 tenant's). A_l M x K, B_l K x N, D_l M x N,
 * each row-major with its leading dimension; a, b, d: device tables of
 * `batch` pointers. aligned: A's and B's pointers 16-byte aligned and K,
 * N and their leading dimensions multiples of 4 (loads of 4 floats).
 * fused: D_l = clamp(A_l B_l + bias_l (per row of D) + C_l, lo, hi)
 * instead, C_l (the residual, laid out as D_l) and bias_l from the tables
 * c and bias (NULL: none). */
typedef struct cv_cutlass_sgemm {
    int device;
    int64_t m, n, k, batch;
    int64_t lda, ldb, ldd;
    const void *const *a, *const *b;
    void *const *d;
    bool aligned;
    bool tf32;
    bool fused;
    const void *const *c;
    const float *const *bias;
    float lo, hi;
} cv_cutlass_sgemm_t;

/* Whether the kernels take these extents on g->device (built with CUTLASS,
 * an H100/H200, int extents, at most 65535 problems). */
bool cv_cutlass_sgemm_fits(const cv_cutlass_sgemm_t *g);
/* Launches on `stream` (capturable; no workspace); a status if CUTLASS
 * refuses it. */
cv_status cv_cutlass_sgemm_run(const cv_cutlass_sgemm_t *g, cudaStream_t stream, cv_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
