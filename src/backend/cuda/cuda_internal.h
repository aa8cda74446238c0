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

/* The default bound of cv_cuda_t.pointwise_own_max_k: K up to which the
 * fused pointwise kernel is used (see docs/RESULTS.md for the A/B that set it). */
#define CV_CUDA_POINTWISE_OWN_MAX_K 160

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
    /* The device has a stream-ordered memory pool: stored weights come
     * from it (cuda_backend.cu). */
    bool pools;
    /* FP32 1x1 convolutions with at most this many input channels run
     * in the fused pointwise kernel (cuda_gemm.cu) rather than cuBLAS and
     * an epilogue pass: CARAVEL_POINTWISE=own (any K), cublas (none), or
     * unset (the default bound). */
    int64_t pointwise_own_max_k;
    long pointwise_half_launches; /* of the FP16/BF16 pointwise kernel, for tests */
    /* 3x3 depthwise convolutions in the tiled kernel (cuda_gemm.cu):
     * the default since it measured 1.1-1.45x faster on the H100 (MobileNetV2
     * R = 64: 4.04 against 5.86 ms device time; docs/RESULTS.md, sixth
     * session); CARAVEL_DEPTHWISE=direct runs the direct kernel. */
    bool depthwise_tiled;
    long depthwise_tiled_launches; /* for tests */
    /* FP16/BF16 tenants keep only the half copy of the weights that no
     * FP32 path reads (cv_backend_half_only_weights):
     * the default (CARAVEL_HALF_WEIGHTS=only) since its tests passed on
     * the H100, where an FP16 ResNet-50 tenant then takes 51 MB instead of
     * ~150; CARAVEL_HALF_WEIGHTS=both keeps the FP32 copy too. */
    bool half_only_weights;
    /* FP16/BF16 waves keep the activations that only 2-D Convs write and
     * read (cv_plan_value_t.half_ok) in half: GEMMs write them as their C,
     * 1x1 convolutions read them as their operand with no conversion, the
     * epilogue, im2col and the depthwise kernels read and write half.
     * CARAVEL_HALF_ACTIVATIONS=fp32 keeps every activation FP32. */
    bool half_activations;
    /* ...and those a MaxPool reads or writes (cv_plan_value_t.half_by_pool:
     * a ResNet's stem output and the MaxPool's), with MaxPool's kernel in
     * half too (cuda_pool.cu): the default (CARAVEL_HALF_POOLS=half)
     * since its test (test_half_activations) passed on the H100, where it
     * is part of the 10% the CUTLASS convs gave a ResNet-50 FP16 wave
     * (docs/RESULTS.md, twelfth session); =fp32 keeps them FP32. */
    bool half_pools;
    /* MaxPool and AveragePool over 2-D windows without dilation take
     * pool2d_kernel (cuda_pool.cu: a pixel's place with one division, the
     * window's bounds with none), CARAVEL_POOL=2d; off (generic) until it
     * has run on a GPU. */
    bool pool2d;
    /* FP16/BF16 Conv GEMMs on small planes write C channels innermost and
     * the epilogue moves it into Y's planes (cuda_gemm.cu,
     * conv_plan_t.channels_c): the default since it measured 3% faster on
     * the H100 (R = 64, FP16: ResNet-50 5285 against 5124 inf/s,
     * MobileNetV2 18757 against 18197; docs/RESULTS.md, eighth session).
     * CARAVEL_CONV_C=planes turns it off. */
    bool conv_channels_c;
    long conv_channels_c_launches; /* for tests */
    /* That epilogue by spans of whole planes (channels_span_kernel: a
     * block's channels are one contiguous span of Y, written 8 elements a
     * store), CARAVEL_CHANNELS_EPILOGUE=spans; off (tiles) until it has
     * run on a GPU. */
    bool channels_spans;
    long conv_channels_span_launches; /* for tests */
    /* Activations of small planes stored channels innermost,
     * [N, H, W, C], between the 2-D Convs of one group that write and
     * read them (cv_plan_value_t.channels_inner_ok; cuda_act.cuh,
     * nhwc_of): the GEMM writes Y itself (no C in the workspace), the
     * epilogue adds the bias and the residual in place along channels
     * (no transpose), a 1x1 reads X as its K-contiguous columns (no copy)
     * and a 3x3 gathers whole pixels (im2col_nhwc_kernel).
     * CARAVEL_SMALL_PLANES=nhwc; off (nchw) until it has run on a GPU. */
    bool small_planes_nhwc;
    /* ...for planes of at most this many pixels: CONV_CHANNELS_C_PIXELS
     * (ResNet-50's 14x14 and 7x7), CARAVEL_NHWC_PIXELS to try more. */
    int64_t nhwc_max_pixels;
    /* ...and the Convs writing such a Y in CUTLASS's kernel with the bias,
     * the residual and the clamp fused in (conv_plan_t.fused, D [P, M]
     * stored through TMA): no epilogue pass. CARAVEL_NHWC_GEMM=cutlass;
     * off (cublas) until it has run on a GPU. */
    bool nhwc_cutlass;
    long conv_nhwc_x_launches, conv_nhwc_y_launches; /* for tests: convs reading, writing such a value */
    /* Those of one group, 2-D, with 8 | C, also lay their columns out
     * K-contiguous (conv_plan_t.k_major): the default since it measured
     * faster on the H100 at R = 64 and 8 (FP16: ResNet-50 9394 against
     * 8264 and 6839 against 5821 inf/s, MobileNetV2 27283 against 26177
     * and 13505 against 13399; docs/RESULTS.md, ninth session).
     * CARAVEL_CONV_COLUMNS=pixels keeps the NCHW columns, which cuBLAS
     * then reads transposed. */
    bool conv_k_major;
    long conv_k_major_launches; /* for tests */
    bool k_major_wide_tiles; /* tests: im2col_rows_kernel's widest tiles even for few rows */
    /* The im2col kernels' tuned versions, CARAVEL_IM2COL=tuned (off until
     * they have run on a GPU): im2col_rows_kernel giving a warp's lanes
     * consecutive pixels (the first version maps a pixel's runs along a
     * warp) and im2col2d_kernel's W3 form for 3-wide windows (loads each input
     * row once); cuda_gemm.cu */
    bool im2col_tuned;
    /* FP16 Conv GEMMs run in CUTLASS's pointer-array kernels with the
     * bias, the residual and the clamp fused in (cuda_cutlass.cu;
     * conv_plan_t.fused), where the build has CUTLASS and the device is an
     * H100/H200: CARAVEL_CONV_GEMM=cutlass. Planes of 16-byte rows through
     * a TMA epilogue; with cutlass_small_planes also the small planes'
     * tap columns, through plane_epilogue (CARAVEL_CUTLASS_PLANES=all;
     * the default, =large, keeps those on cuBLAS: they ran slower). The
     * default since test_conv_fused passed on the H100, where a ResNet-50
     * FP16 wave of 64 ran at 10342 inf/s against 9419 with cuBLAS and
     * 9573 with the small planes' kernels too (docs/RESULTS.md, twelfth
     * session); CARAVEL_CONV_GEMM=cublas keeps cuBLAS and the epilogue
     * pass. */
    bool conv_cutlass, cutlass_small_planes;
    bool fused_everywhere; /* tests: fused wherever a kernel can (narrow GEMMs, K cuBLAS would split) */
    long conv_fused_launches; /* for tests */
    /* FP32 Conv GEMMs on the tensor cores at FP32's accuracy, 3xTF32
     * (cuda_cutlass_fp32.cu), in place of cuBLAS's SGEMM, which bounds a
     * ResNet-50 FP32 wave of 64 below issue 9's goal (docs/RESULTS.md):
     * CARAVEL_FP32_GEMM=3xtf32, where the build has CUTLASS and the device
     * is an H100/H200. Its test (test_conv_cutlass_fp32) passed on the
     * H100 (errors of cuBLAS's order), but the waves were no faster
     * (ResNet-50 R = 64: 3346 against 3315 inf/s; MobileNetV2 15046
     * against 16305; docs/RESULTS.md, twelfth session): off (sgemm). */
    bool fp32_3xtf32;
    /* TF32 Conv GEMMs in the same kernels with one TF32 product, in place
     * of cuBLAS's TF32 ones: CARAVEL_TF32_GEMM=cutlass. Right on the H100
     * but far slower (ResNet-50 R = 64: 3788 against 5896 inf/s), so
     * cublas stays the default. */
    bool tf32_cutlass;
    long conv_3xtf32_launches, conv_tf32_cutlass_launches; /* for tests */
    long conv_fused_f32_launches; /* of those, with the epilogue inside (tests) */
    /* How a wave's end is waited for (cuda_synchronize): by default
     * cudaStreamSynchronize, which spins on a core of its own (CUDA's
     * choice with fewer contexts than cores); CARAVEL_WAIT=block: on an
     * event made with cudaEventBlockingSync, so the lane's thread sleeps
     * while the GPU computes instead of spinning beside the scheduler's
     * and the other lanes' threads (issue 8: what a wave's host time costs
     * under load). */
    bool wait_blocking;
    cudaEvent_t wave_done; /* wait_blocking's event */
    /* The process's pinned host blocks made by host_alloc (request
     * buffers), which copy_many moves in one call (cuda_copy.cu). */
    struct cv_cuda_host_blocks *host_blocks;
    bool copy_kernel; /* CARAVEL_COPY_KERNEL=on: copy_many by a kernel */
    bool copy_batch;  /* copy_many by cudaMemcpyBatchAsync (until refused) */
    long batches_by_kernel, batches_by_batch_call; /* copy_many's batches each way (tests) */
    /* Steps that ran on the host because no CUDA kernel exists, per op. */
    long fallbacks[CV_OP_COUNT];
    /* The super-kernel cache (cuda_graph.cu); NULL until created. */
    struct cv_cuda_graphs *graphs;
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

/* A tenant's constants table (tenant_upload) holds 2 * nvalues + 5
 * entries: [v] the device copy of constant v in its own dtype (FP32 stays
 * FP32 whatever the precision, so every kernel reads what the plan says);
 * [nvalues + v] for FP16/BF16 tenants, the half copy of a weight that a
 * GEMM-like step reads as its second input (Conv W, Gemm B, MatMul B),
 * else NULL; [2 * nvalues] the device block that holds them all;
 * [2 * nvalues + 1] its size; [2 * nvalues + 2] the upload's serial, never
 * reused in the process: the super-kernel cache tells tenants apart by it,
 * since a released tenant's table (host) and block (device) addresses may
 * come back for the next one; [2 * nvalues + 3] a device copy of entries
 * [0, 2 * nvalues), in the block, from which the cache's rebind kernel
 * points a graph's tables at the tenant; [2 * nvalues + 4] non-NULL when
 * any constant is the weight store's (another tenant may read the same
 * copy), NULL when every one lies in the tenant's own block: the cache's
 * grouping skips the per-weight comparisons between two tenants that share
 * nothing. A weight kept as its half copy
 * only (cv_cuda_t.half_only_weights) has [v] == [nvalues + v]:
 * the entry still tells tensors apart, and nothing reads it as FP32 but
 * the host fallback, which converts the half copy back. */
static inline const void *cv_cuda_half_constant(void *const *constants, const cv_graph_t *g, int v)
{
    return constants[g->nvalues + v];
}
static inline uint64_t cv_cuda_tenant_serial(void *const *constants, const cv_graph_t *g)
{
    return (uint64_t)(uintptr_t)constants[2 * g->nvalues + 2];
}
static inline void *const *cv_cuda_tenant_device_table(void *const *constants, const cv_graph_t *g)
{
    return (void *const *)constants[2 * g->nvalues + 3];
}
static inline bool cv_cuda_tenant_may_share(void *const *constants, const cv_graph_t *g)
{
    return constants[2 * g->nvalues + 4] != NULL;
}

/* ---- the super-kernel cache (cuda_graph.cu) -------------------------------
 * Waves of one shape (plan, precision, rows of each slice, executor buffer)
 * are captured as a CUDA graph the second time they run, and replayed
 * whoever their tenants are: every pointer into a tenant's constants that a
 * captured kernel or cuBLAS call reads lies in a table of the shape's
 * pinned region (cv_cuda_stage_member), and a wave of other members
 * rewrites those words, copies the region once and launches the same graph.
 * While a wave is being captured nothing may synchronise the stream: the
 * hooks below let the workspace, the staging allocator and the host
 * fallback give the capture up, and the cache then runs the wave's steps
 * so far eagerly, so that no result is lost. */

cv_status cv_cuda_graphs_create(cv_cuda_t *cuda, cv_err_t *err);
void cv_cuda_graphs_destroy(cv_cuda_t *cuda);
/* copy_many (backend.h) and the pinned host blocks it may read and write
 * from a kernel (cuda_copy.cu). note/forget: after a host allocation, before
 * its free; a block that could not be noted is copied the ordinary way. */
cv_status cv_cuda_copy_many(cv_backend_t *b, const cv_copy_t *copies, int n, bool to_device, cv_err_t *err);
cv_status cv_cuda_host_blocks_create(cv_cuda_t *cuda, cv_err_t *err);
void cv_cuda_host_blocks_destroy(cv_cuda_t *cuda);
void cv_cuda_host_block_note(cv_cuda_t *cuda, void *ptr, size_t bytes);
void cv_cuda_host_block_forget(cv_cuda_t *cuda, void *ptr);

/* The backend's wave_begin / wave_end / stats (backend.h). */
cv_status cv_cuda_wave_begin(cv_backend_t *b, const cv_plan_t *plan, const cv_wave_slice_t *slices,
                             int nslices, cv_precision_t precision, const void *buffer, cv_wave_kind_t *kind,
                             cv_err_t *err);
cv_status cv_cuda_wave_end(cv_backend_t *b, cv_status steps, cv_err_t *err);
void cv_cuda_stats(cv_backend_t *b, cv_backend_stats_t *out);
/* The backend's step_mark / step_times (backend.h): an event per mark. */
cv_status cv_cuda_step_mark(cv_backend_t *b, int k, cv_err_t *err);
cv_status cv_cuda_step_times(cv_backend_t *b, double *ms, int n, cv_err_t *err);
/* True while cuda->stream is capturing a wave for the cache. */
bool cv_cuda_graph_capturing(const cv_cuda_t *cuda);
/* Runs a step while capturing: `dispatch` launches it; when the capture
 * has to be given up (a hook called cv_cuda_graph_abort, or any failure),
 * ends it and runs every step of the wave so far, this one included,
 * eagerly. Returns the step's status. */
typedef cv_status (*cv_cuda_dispatch_fn)(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err);
cv_status cv_cuda_graph_step(cv_cuda_t *cuda, const cv_step_run_t *run, cv_cuda_dispatch_fn dispatch,
                             cv_err_t *err);
/* Gives the capture in progress up (`why` is logged); returns the status
 * the caller returns from its step (the cache then re-runs it eagerly). */
cv_status cv_cuda_graph_abort(cv_cuda_t *cuda, const char *why, cv_err_t *err);
/* Staging while capturing: from the captured wave's own pinned region, so
 * that replays read tables that only a change of members rewrites. Gives
 * the capture up when it is full. */
cv_status cv_cuda_graph_stage(cv_cuda_t *cuda, size_t bytes, void **host, void **device, cv_err_t *err);
/* What the wave in progress asked of the staging allocator and the
 * workspace (eager runs size a captured wave's region from it). */
void cv_cuda_graph_note(cv_cuda_t *cuda, size_t stage_bytes, size_t workspace_bytes);
/* Device memory or a plan about to be freed: graphs captured with it are
 * dropped, never replayed (a plan's shapes go altogether). Tenants need no
 * forgetting: slices are matched by their tables' serials. */
void cv_cuda_graph_forget(cv_cuda_t *cuda, const void *ptr);
/* True while the wave in progress may be captured, or is the eager wave
 * that sizes a capture (its shape is cached and capturable): its steps
 * then read every tenant's weight through a staged table written by
 * cv_cuda_stage_member, never as a kernel parameter or a cuBLAS argument,
 * so that eager and captured waves stage the same bytes and launch the
 * same kernels. False otherwise: steps may pass weights by value. */
bool cv_cuda_members_indirect(const cv_cuda_t *cuda);
/* Writes into *slot, a word of a table from cv_cuda_stage, the address
 * `offset` bytes into run->slices[s]'s tenant's copy of constant `value`
 * (its FP16/BF16 copy when `half`). While capturing, the cache notes the
 * word (slice, constant, offset), so that a replay with other members
 * rewrites it, and counts `value` as read through the tables in this step:
 * a captured step that reads a weight any other way binds its graph to
 * the wave's members (cv_cuda_graph_bind). */
void cv_cuda_stage_member(cv_cuda_t *cuda, const cv_step_run_t *run, const void **slot, int s, int value,
                          bool half, size_t offset);
/* The step being captured passes a tenant's pointer some way that
 * cv_cuda_stage_member does not see (`why` is logged): its graph replays
 * only with the same members, and other members capture it again. */
void cv_cuda_graph_bind(cv_cuda_t *cuda, const char *why);
/* For tests: the next capture gives up before its step `step` runs, as a
 * failing step would (the journal then runs the wave eagerly). -1: never. */
void cv_cuda_graph_abort_at(cv_cuda_t *cuda, int step);
/* Called once the stream has synchronised: reads the wave's device time. */
void cv_cuda_graph_synchronized(cv_cuda_t *cuda);
/* Captures given up since the backend was created (for tests). */
long cv_cuda_graph_aborts(const cv_cuda_t *cuda);
/* How a cached graph is pointed at other members (cuda_graph.cu): the
 * host rewrites the words and copies the region; a kernel launched before
 * the graph rewrites them; or that kernel is the graph's first node, whose
 * parameters are set in the executable graph (no launch of its own); or
 * that node reads the members' tables from mapped host memory the host
 * writes before the launch (no CUDA call at all). */
typedef enum cv_cuda_rebind_way {
    CV_CUDA_REBIND_HOST = 0,
    CV_CUDA_REBIND_KERNEL,
    CV_CUDA_REBIND_NODE,
    CV_CUDA_REBIND_MAPPED,
} cv_cuda_rebind_way_t;
/* For tests: the way of the graphs captured from now on (CARAVEL_REBIND
 * sets it at the backend's creation; waves wider than the kernel takes
 * rebind on the host whatever it says); check every rebind on the device
 * against the words the host would write (check: synchronises). The
 * counts: rebinds done on the device, words that differed in checks. */
void cv_cuda_graph_rebind_mode(cv_cuda_t *cuda, cv_cuda_rebind_way_t way, bool check);
void cv_cuda_graph_rebind_counts(const cv_cuda_t *cuda, long *on_device, long *mismatches);
/* For tests: launch graphs captured from now on from the device
 * (CARAVEL_GRAPH_LAUNCH=device), and count the waves so launched and the
 * captures the driver refused it (launched from the host instead). */
void cv_cuda_graph_launch_mode(cv_cuda_t *cuda, bool on_device);
void cv_cuda_graph_launch_counts(const cv_cuda_t *cuda, long *on_device, long *refused);
/* cuda_graph_launch.cu: a one-node graph whose kernel tail-launches
 * `target` (instantiated for device launch and uploaded), and writes the
 * device's refusal, if any, into *error (device address of a word of
 * mapped host memory). */
cudaError_t cv_cuda_graph_launcher_make(cudaGraphExec_t target, int *error, cudaGraphExec_t *launcher);
/* After the stream has synchronised: a refusal a launcher met on the
 * device since the last call (cudaSuccess: none); clears it. */
cudaError_t cv_cuda_graph_take_launch_error(cv_cuda_t *cuda);

/* A step whose launches depend on which of a wave's slices share a
 * weight (Gemm, MatMul: a GEMM problem per run of slices that read one B,
 * cuda_gemm.cu): the value of that weight; -1 for every other step, whose
 * launches are the same whoever shares what (their tables hold a pointer
 * per row or slice). The super-kernel cache keys a wave by it. */
int cv_cuda_step_group_weight(const cv_graph_t *g, const cv_node_t *n);
/* Whether two slices are requests of one tenant (one constants table).
 * Such slices never share a GEMM problem, only other tenants' that read
 * the same weight do: otherwise a wave's grouping, part of its graph's
 * key, would depend on which tenants sent two requests, and under load
 * nearly every wide wave would be a shape of its own. */
static inline bool cv_cuda_same_tenant(const cv_wave_slice_t *a, const cv_wave_slice_t *b)
{
    return a->constants == b->constants;
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
/* Every device and pinned host allocation of this backend goes through
 * these: cudaMalloc and cudaMallocHost behind the fault injection of core.h
 * (cv_alloc_device_fail_after), which fails them as the driver would (the
 * stored weights' pool allocations, cuda_backend.cu's weight_alloc, ask the
 * same injection). */
static inline cudaError_t cv_cuda_malloc(void **ptr, size_t bytes)
{
    if (cv_alloc_device_injected_failure()) return cudaErrorMemoryAllocation;
    return cudaMalloc(ptr, bytes);
}
static inline cudaError_t cv_cuda_malloc_host(void **ptr, size_t bytes)
{
    if (cv_alloc_device_injected_failure()) return cudaErrorMemoryAllocation;
    return cudaMallocHost(ptr, bytes);
}

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
