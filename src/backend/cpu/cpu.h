/*
 * cpu.h: what CPU kernels share: their context (threads, scratch memory)
 * and the loops every elementwise kernel needs.
 */
#ifndef CV_BACKEND_CPU_H
#define CV_BACKEND_CPU_H

#include "core/threads.h"
#include "ir/graph.h"

typedef struct cv_cpu_ctx {
    int threads;         /* kernels may split work over this many threads */
    cv_pool_t *pool;     /* those threads, or NULL: kernels then run inline
                            (constant folding, tests); owned by whoever
                            made the context */
    void *scratch;       /* grows on demand, reused between steps */
    size_t scratch_bytes;
} cv_cpu_ctx_t;

/* Scratch memory of at least `bytes`, valid until the next call; NULL when
 * the allocation fails (the kernel then returns CV_STATUS_OUT_OF_MEMORY). */
void *cv_cpu_scratch(cv_cpu_ctx_t *ctx, size_t bytes);
void cv_cpu_ctx_release(cv_cpu_ctx_t *ctx);

/* Row-major strides of `shape` in elements. */
void cv_shape_strides(const cv_shape_t *shape, int64_t *strides);
/* Strides of `in` broadcast against `out` (same rank after left-padding
 * with 1s): 0 where `in` has extent 1. */
void cv_broadcast_strides(const cv_shape_t *in, const cv_shape_t *out, int64_t *strides);

#endif /* CV_BACKEND_CPU_H */
