/*
 * cuda_act.cuh: how a wave stores an activation on the device (FP32, or
 * FP16/BF16 where a reduced-precision wave keeps it in half: act_of) and
 * the conversions the kernels that read and write such activations share
 * (cuda_gemm.cu's convolutions, cuda_pool.cu's MaxPool).
 */
#ifndef CV_CUDA_ACT_CUH
#define CV_CUDA_ACT_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/cuda_internal.h"
#include "plan/plan.h"

template <typename T> static __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}

/* How an activation of the wave is stored: FP32, or FP16/BF16 where a
 * reduced-precision wave keeps it in half (act_of). */
typedef enum act { ACT_F32 = 0, ACT_F16, ACT_BF16 } act_t;

template <typename T> static __device__ __forceinline__ float to_float(T v);
template <> __device__ __forceinline__ float to_float<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

/* Element i of an activation stored as `act` (a fused residual: its kind
 * is the wave's, not the kernel's, and the branch is the same for every
 * thread). */
static __device__ __forceinline__ float load_act(const void *__restrict__ p, int act, int64_t i)
{
    if (act == ACT_F16) return __half2float(((const __half *)p)[i]);
    if (act == ACT_BF16) return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    return ((const float *)p)[i];
}

static inline size_t act_size(act_t a) { return a == ACT_F32 ? 4 : 2; }

/* Calls f with a value of the C++ type that stores `a`: one launch site
 * for the kernels templated on their activations' types. */
template <typename F> static void with_act(act_t a, F f)
{
    if (a == ACT_F16) f(__half());
    else if (a == ACT_BF16) f(__nv_bfloat16());
    else f(0.0f);
}

/* with_act for the two half kinds alone: the launch sites of kernels
 * that only ever see half data (their shared memory sized for 2-byte
 * elements), which then build no FP32 form. */
template <typename F> static void with_half_act(act_t a, F f)
{
    if (a == ACT_BF16) f(__nv_bfloat16());
    else f(__half());
}

/* How the wave stores value v: half where the plan allows it
 * (cv_plan_value_t.half_ok) in an FP16/BF16 wave, unless
 * CARAVEL_HALF_ACTIVATIONS=fp32, and for what a MaxPool touches only with
 * CARAVEL_HALF_POOLS=half (cv_cuda_t.half_pools). */
static inline act_t act_of(const cv_cuda_t *cuda, const cv_step_run_t *run, int v)
{
    if (v < 0 || (run->precision != CV_PRECISION_FP16 && run->precision != CV_PRECISION_BF16) ||
        !cuda->half_activations || !run->plan->values[v].half_ok ||
        (run->plan->values[v].half_by_pool && !cuda->half_pools))
        return ACT_F32;
    return run->precision == CV_PRECISION_BF16 ? ACT_BF16 : ACT_F16;
}

/* Planes of at most this many pixels take conv_plan_t.channels_c
 * (ResNet-50's 14x14 and 7x7) and may be stored channels innermost. */
#define CONV_CHANNELS_C_PIXELS 400

/* Whether the wave stores value v channels innermost, [N, H, W, C]
 * (cv_cuda_t.small_planes_nhwc): where the plan allows it
 * (cv_plan_value_t.channels_inner_ok), v is stored as the GEMMs'
 * operands are (half in an FP16/BF16 wave, act_of; FP32 in an FP32 or
 * TF32 one), its planes are small (cv_cuda_t.nhwc_max_pixels) and 8 | C
 * (whole 16-byte vectors of channels). A function of v's shape alone past the plan's flag, so that
 * the Conv that writes v, every Conv that reads it and a Conv whose
 * residual it is all agree. */
static inline bool nhwc_of(const cv_cuda_t *cuda, const cv_step_run_t *run, int v)
{
    if (v < 0 || !cuda->small_planes_nhwc || !run->plan->values[v].channels_inner_ok) return false;
    /* stored as the wave's GEMM operands are: half in an FP16/BF16 wave
     * (not where CARAVEL_HALF_ACTIVATIONS=fp32 keeps it FP32), FP32 in an
     * FP32 or TF32 one */
    bool half_wave = run->precision == CV_PRECISION_FP16 || run->precision == CV_PRECISION_BF16;
    if ((act_of(cuda, run, v) != ACT_F32) != half_wave) return false;
    const cv_shape_t *s = &run->plan->values[v].shape;
    return s->ndim == 4 && s->dims[1] % 8 == 0 && s->dims[2] * s->dims[3] <= cuda->nhwc_max_pixels;
}

#endif
