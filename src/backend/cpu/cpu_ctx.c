/*
 * cpu_ctx.c: scratch memory for CPU kernels (the stride helpers they share
 * with the CUDA kernels are in src/backend/broadcast.c).
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
