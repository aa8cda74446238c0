/*
 * cuda_gemm_ways.h: the paper's Table 1 experiment on this GPU (issue 11):
 * R independent FP32 GEMM problems, each with its own A, B and C as R
 * tenants' layers would have, run the ways a shared GPU can run them. C
 * interface, for `caravel table1` (tools/cmd_table1.c); built with the
 * CUDA backend only (CARAVEL_WITH_CUDA).
 */
#ifndef CV_BACKEND_CUDA_GEMM_WAYS_H
#define CV_BACKEND_CUDA_GEMM_WAYS_H

#ifdef __cplusplus
extern "C" {
#endif

#include "core/core.h"

typedef enum cv_gemm_way {
    CV_GEMM_TIME,           /* R cublasSgemm one after another on one stream */
    CV_GEMM_SPACE,          /* R cublasSgemm on R streams (Hyper-Q) */
    CV_GEMM_SPACETIME,      /* one cublasSgemmBatched: the super-kernel */
    CV_GEMM_GROUPED,        /* one cublasGemmGroupedBatchedEx, R groups of one
                               (the path for problems of different shapes) */
    CV_GEMM_SPACETIME_TF32, /* the batched launch on TF32 tensor cores */
    CV_GEMM_WAYS
} cv_gemm_way_t;

const char *cv_gemm_way_name(cv_gemm_way_t way);

/* Runs R problems C_i [m x n] = A_i [m x k] B_i [k x n] every way on GPU
 * `device`, `reps` timed repetitions after 3 of warm-up each, and writes
 * the median device time of one repetition (all R problems, CUDA events)
 * to ms[way]; NAN where cuBLAS does not support a way. A status (out of
 * memory, no device, a CUDA error) with err set otherwise. */
cv_status cv_cuda_gemm_ways(int device, int m, int n, int k, int r, int reps, double ms[CV_GEMM_WAYS],
                            cv_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
