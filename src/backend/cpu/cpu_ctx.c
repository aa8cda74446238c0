/*
 * cpu_ctx.c: scratch memory and stride helpers for CPU kernels.
 */
#include "backend/cpu/cpu.h"

void *cv_cpu_scratch(cv_cpu_ctx_t *ctx, size_t bytes)
{
    if (bytes <= ctx->scratch_bytes) return ctx->scratch;
    void *fresh = cv_malloc(bytes);
    if (!fresh) return NULL;
    cv_free(ctx->scratch);
    ctx->scratch = fresh;
    ctx->scratch_bytes = bytes;
    return fresh;
}

void cv_cpu_ctx_release(cv_cpu_ctx_t *ctx)
{
    cv_free(ctx->scratch);
    ctx->scratch = NULL;
    ctx->scratch_bytes = 0;
}

void cv_shape_strides(const cv_shape_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = shape->ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape->dims[i];
    }
}

void cv_broadcast_strides(const cv_shape_t *in, const cv_shape_t *out, int64_t *strides)
{
    int64_t own[CV_MAX_DIMS];
    cv_shape_strides(in, own);
    int pad = out->ndim - in->ndim;
    for (int i = 0; i < out->ndim; i++) {
        int j = i - pad;
        strides[i] = (j < 0 || in->dims[j] == 1) ? 0 : own[j];
    }
}
