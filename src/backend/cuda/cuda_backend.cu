/*
 * cuda_backend.cu: the CUDA backend's cv_backend_i: device memory, one
 * non-blocking stream for every launch and copy, the cuBLAS handle bound to
 * it, tenants' constants on the device, the device workspace and the pinned
 * staging of per-step tables, and step dispatch by op.
 *
 * A step goes to its op's entry cv_cuda_<stem> (cuda_gemm.cu, the other
 * cuda_*.cu files); an op without one, or a case an entry does not handle
 * (an entry returns CV_STATUS_UNSUPPORTED or calls cv_cuda_run_on_host),
 * runs on the host: inputs downloaded, the CPU kernel run (per slice for
 * weighted steps, exactly as the CPU backend does), outputs uploaded. Such
 * steps are counted per op; the first of each op is logged.
 *
 * Tenants: their weights are the runtime's weight store's (shared between
 * the tenants that have them, src/runtime/weights.c): one device
 * allocation per stored tensor (weight_upload), with its FP16/BF16 copy
 * beside it where a GEMM-like step reads it, from the device's
 * stream-ordered pool, so that a tensor is freed with its last tenant and
 * small tensors do not each take a page. A tenant's own block (one
 * cudaMalloc) holds the constants that are no stored weight (structure,
 * and every constant of a table made without the store, as tests do);
 * each table carries an upload serial, by which the super-kernel cache
 * tells tenants apart (layout: cuda_internal.h).
 *
 * Waves go through the super-kernel cache (cuda_graph.cu): this file gives
 * it the hooks it needs while a wave is being captured (no synchronisation,
 * staging from the captured wave's own region, no host steps) and a fixed
 * cuBLAS workspace, so that cuBLAS never allocates under capture.
 *
 * Not here: several streams.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_internal.h"

extern "C" {
#include "backend/cpu/cpu.h"
}

#define PINNED_INITIAL ((size_t)1 << 20)
/* cuBLAS's own workspace: the size NVIDIA recommends for Hopper. */
#define CUBLAS_WORKSPACE ((size_t)32 << 20)
#define TENSOR_ALIGN 256

typedef cv_status (*cuda_op_fn)(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err);

/* Declared weak (as src/ir/op.c does for CPU kernels) so that an op
 * without a CUDA entry reads NULL in the table and falls back. */
extern "C" {
#define CV_CUDA_WEAK(id, onnx, stem)                                                     \
    __attribute__((weak)) cv_status cv_cuda_##stem(cv_cuda_t *, const cv_step_run_t *, cv_err_t *);
CV_OP_LIST(CV_CUDA_WEAK)
#undef CV_CUDA_WEAK
}

static const cuda_op_fn op_entries[CV_OP_COUNT] = {
#define CV_CUDA_ROW(id, onnx, stem) cv_cuda_##stem,
    CV_OP_LIST(CV_CUDA_ROW)
#undef CV_CUDA_ROW
};

typedef struct cuda_backend {
    cv_cuda_t cuda; /* first: a cv_backend_t * is a cv_cuda_t * is this */
    cv_cpu_ctx_t cpu; /* for host fallbacks */
    size_t pinned_used;
    void *cublas_workspace;
    /* Read once at creation: they do not change while the process runs. */
    char name[96];
    char uuid[48];
} cuda_backend_t;

static size_t align_up(size_t n) { return (n + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN; }

/* ---- statuses ------------------------------------------------------------- */

extern "C" cv_status cv_cuda_status(cudaError_t e, const char *what, const char *file, int line, cv_err_t *err)
{
    const char *base = strrchr(file, '/');
    cv_status st = e == cudaErrorMemoryAllocation ? CV_STATUS_OUT_OF_MEMORY : CV_STATUS_INTERNAL;
    /* Clears the error where it is not sticky (a failed allocation). */
    cudaGetLastError();
    return cv_errorf(err, st, "CUDA: %s failed: %s (%s) at %s:%d", what, cudaGetErrorString(e),
                     cudaGetErrorName(e), base ? base + 1 : file, line);
}

extern "C" cv_status cv_cublas_status(cublasStatus_t s, const char *what, const char *file, int line, cv_err_t *err)
{
    const char *base = strrchr(file, '/');
    cv_status st = s == CUBLAS_STATUS_ALLOC_FAILED ? CV_STATUS_OUT_OF_MEMORY : CV_STATUS_INTERNAL;
    return cv_errorf(err, st, "cuBLAS: %s failed: %s at %s:%d", what, cublasGetStatusString(s),
                     base ? base + 1 : file, line);
}

/* ---- workspace and staging ---------------------------------------------- */

extern "C" void *cv_cuda_workspace(cv_cuda_t *cuda, size_t bytes)
{
    cv_cuda_graph_note(cuda, 0, bytes);
    if (bytes <= cuda->workspace_bytes && cuda->workspace) return cuda->workspace;
    /* Growing synchronises: a capture is given up (the caller's NULL reads
     * as a failure, which the cache answers by running the wave eagerly). */
    if (cv_cuda_graph_capturing(cuda)) {
        cv_cuda_graph_abort(cuda, "the workspace must grow", NULL);
        return NULL;
    }
    /* Steps in flight may still read the old one. */
    if (cudaStreamSynchronize(cuda->stream) != cudaSuccess) return NULL;
    cv_cuda_graph_forget(cuda, cuda->workspace);
    cudaFree(cuda->workspace);
    cuda->workspace = NULL;
    cuda->workspace_bytes = 0;
    size_t want = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
    if (cv_cuda_malloc((void **)&cuda->workspace, want) != cudaSuccess) {
        cudaGetLastError();
        cuda->workspace = NULL;
        return NULL;
    }
    cuda->workspace_bytes = want;
    return cuda->workspace;
}

extern "C" cv_status cv_cuda_stage(cv_cuda_t *cuda, size_t bytes, void **host, void **device, cv_err_t *err)
{
    cuda_backend_t *be = (cuda_backend_t *)cuda;
    if (cv_cuda_graph_capturing(cuda)) return cv_cuda_graph_stage(cuda, bytes, host, device, err);
    size_t need = align_up(bytes ? bytes : 1);
    cv_cuda_graph_note(cuda, need, 0);
    if (be->pinned_used + need > cuda->pinned_bytes) {
        /* Full: wait for the copies that read earlier tables, start over. */
        CV_CUDA_CHECK(cudaStreamSynchronize(cuda->stream), err);
        be->pinned_used = 0;
        if (need > cuda->pinned_bytes) {
            size_t grown = cuda->pinned_bytes * 2 > need ? cuda->pinned_bytes * 2 : need;
            cudaFreeHost(cuda->pinned);
            cudaFree(cuda->pinned_device);
            cuda->pinned = cuda->pinned_device = NULL;
            cuda->pinned_bytes = 0;
            CV_CUDA_CHECK(cv_cuda_malloc_host((void **)&cuda->pinned, grown), err);
            cudaError_t e = cv_cuda_malloc((void **)&cuda->pinned_device, grown);
            if (e != cudaSuccess) {
                cudaFreeHost(cuda->pinned);
                cuda->pinned = NULL;
                return cv_cuda_status(e, "cudaMalloc (table staging)", __FILE__, __LINE__, err);
            }
            cuda->pinned_bytes = grown;
        }
    }
    *host = (char *)cuda->pinned + be->pinned_used;
    *device = (char *)cuda->pinned_device + be->pinned_used;
    be->pinned_used += need;
    return CV_STATUS_OK;
}

/* ---- memory --------------------------------------------------------------- */

static cv_status cuda_alloc(cv_backend_t *b, size_t bytes, void **out, cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    cudaError_t e = cv_cuda_malloc(out, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *out = NULL;
        size_t free_bytes = 0, total = 0;
        cudaMemGetInfo(&free_bytes, &total);
        cudaGetLastError();
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY,
                         "out of GPU memory: %zu bytes requested on device %d (%zu of %zu bytes free): %s",
                         bytes, cuda->device, free_bytes, total, cudaGetErrorString(e));
    }
    return CV_STATUS_OK;
}

static void cuda_free(cv_backend_t *b, void *ptr)
{
    if (!ptr) return;
    /* The executor's buffer: graphs captured with it must never replay. */
    cv_cuda_graph_forget((cv_cuda_t *)b, ptr);
    cudaFree(ptr);
}

/* Request buffers: pinned, so that their uploads and downloads run
 * asynchronously at full speed, and mapped (portable, every device sees
 * them at the same address). */
static void cuda_forget(cv_backend_t *b, const void *ptr) { cv_cuda_graph_forget((cv_cuda_t *)b, ptr); }

static cv_status cuda_bind(cv_backend_t *b, cv_err_t *err)
{
    CV_CUDA_CHECK(cudaSetDevice(((cv_cuda_t *)b)->device), err);
    return CV_STATUS_OK;
}

/* The device's memory now: what placement and the metrics read, on any
 * thread (bound first, since cudaMemGetInfo asks the current device). */
static cv_status cuda_device_info(cv_backend_t *b, cv_device_info_t *out, cv_err_t *err)
{
    cuda_backend_t *be = (cuda_backend_t *)b;
    cv_status st = cuda_bind(b, err);
    if (st != CV_STATUS_OK) return st;
    out->device = CV_DEVICE_CUDA;
    out->index = be->cuda.device;
    snprintf(out->name, sizeof out->name, "%s", be->name);
    snprintf(out->uuid, sizeof out->uuid, "%s", be->uuid);
    CV_CUDA_CHECK(cudaMemGetInfo(&out->free_bytes, &out->total_bytes), err);
    return CV_STATUS_OK;
}

/* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx": nvidia-smi's spelling, which
 * Triton's gpu_uuid label uses too. */
static void format_uuid(const cudaUUID_t *u, char *buf, size_t len)
{
    const unsigned char *b = (const unsigned char *)u->bytes;
    snprintf(buf, len, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static cv_status cuda_host_alloc(cv_backend_t *b, size_t bytes, void **out, cv_err_t *err)
{
    cv_status st = cuda_bind(b, err);
    if (st != CV_STATUS_OK) return st;
    cudaError_t e = cv_alloc_device_injected_failure()
                        ? cudaErrorMemoryAllocation
                        : cudaHostAlloc(out, bytes ? bytes : 1, cudaHostAllocPortable | cudaHostAllocMapped);
    if (e == cudaSuccess) {
        cv_cuda_host_block_note((cv_cuda_t *)b, *out, bytes);
        return CV_STATUS_OK;
    }
    cudaGetLastError();
    *out = NULL;
    return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of pinned host memory: %zu bytes for a request buffer (%s)",
                     bytes, cudaGetErrorString(e));
}

static void cuda_host_free(cv_backend_t *b, void *ptr)
{
    cv_cuda_host_block_forget((cv_cuda_t *)b, ptr);
    if (ptr) cudaFreeHost(ptr);
}

static cv_status cuda_upload(cv_backend_t *b, void *dst, const void *src, size_t bytes, cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    if (!bytes) return CV_STATUS_OK;
    /* No synchronisation here: the executor synchronises the stream before a
     * wave returns, and the caller keeps its tensors until then. */
    CV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda->stream), err);
    return CV_STATUS_OK;
}

static cv_status cuda_download(cv_backend_t *b, void *dst, const void *src, size_t bytes, cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    if (!bytes) return CV_STATUS_OK;
    /* Completed by the executor's synchronize after all of a wave's downloads
     * (pageable destinations complete on return anyway). */
    CV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda->stream), err);
    return CV_STATUS_OK;
}

/* ---- tenants -------------------------------------------------------------- */

static void cuda_tenant_release(cv_backend_t *b, const cv_graph_t *g, void **constants)
{
    if (!constants) return;
    if (constants[2 * g->nvalues]) {
        cudaFree(constants[2 * g->nvalues]);
        cv_account_charge_device(-(long long)(uintptr_t)constants[2 * g->nvalues + 1]);
    }
    cv_free(constants);
}

/* Where each constant of g that is not stored (the weight store's) goes in
 * the tenant's device block, every copy 256-byte aligned: at[v] for v's
 * own, at[nv + v] for its half copy where needs_half[v]. Returns the block's size; *largest_half receives the
 * bytes of the largest half copy (the host scratch converting them). */
static bool is_stored(void *const *stored, int v) { return stored && stored[v]; }

/* half_only (NULL: none): the weights kept as their half copy alone. */
static bool is_half_only(const bool *half_only, int v) { return half_only && half_only[v]; }

static size_t constants_layout(const cv_graph_t *g, void *const *stored, const bool *needs_half,
                               const bool *half_only, size_t *at, size_t *largest_half)
{
    int nv = g->nvalues;
    size_t total = 0;
    *largest_half = 0;
    for (int v = 0; v < nv; v++) {
        const cv_tensor_t *c = g->values[v].constant;
        if (!c || is_stored(stored, v)) continue;
        at[v] = total;
        if (!is_half_only(half_only, v)) total += align_up(cv_tensor_nbytes(c) + 1);
        if (needs_half[v]) {
            size_t hb = (size_t)cv_shape_numel(&c->shape) * 2;
            at[nv + v] = total;
            total += align_up(hb + 1);
            if (hb > *largest_half) *largest_half = hb;
        }
    }
    return total;
}

/* Copies every constant of g into `block` at its place, setting table[v]
 * (and table[nv + v] for a half copy, converted to `precision` through a
 * host scratch of `largest_half` bytes). Copies may still be in flight. */

static cv_status constants_copy(cv_backend_t *b, const cv_graph_t *g, cv_precision_t precision,
                                void *const *stored, const bool *needs_half, const bool *half_only, const size_t *at,
                                size_t largest_half, char *block, void **table, cv_err_t *err)
{
    int nv = g->nvalues;
    uint16_t *scratch = NULL;
    if (largest_half && !(scratch = (uint16_t *)cv_malloc(largest_half)))
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory converting the weights of %s", g->path);
    cv_status st = CV_STATUS_OK;
    for (int v = 0; v < nv && st == CV_STATUS_OK; v++) {
        const cv_tensor_t *c = g->values[v].constant;
        if (!c) continue;
        if (is_stored(stored, v)) {
            table[v] = stored[v];
            table[nv + v] = stored[nv + v];
            continue;
        }
        /* A weight kept as its half copy alone: [v] is that copy too
         * (cuda_internal.h), and no FP32 bytes go up. */
        bool only = is_half_only(half_only, v);
        table[v] = block + at[v];
        if (!only) st = cuda_upload(b, table[v], c->data, cv_tensor_nbytes(c), err);
        if (st != CV_STATUS_OK || !needs_half[v]) continue;
        int64_t n = cv_shape_numel(&c->shape);
        cv_backend_to_half((const float *)c->data, n, precision, scratch);
        table[nv + v] = block + at[nv + v];
        if (only) table[v] = table[nv + v];
        /* A copy from pageable memory has read it when the call returns,
         * so scratch can be refilled for the next weight. */
        st = cuda_upload(b, table[nv + v], scratch, (size_t)n * 2, err);
    }
    cv_free(scratch);
    return st;
}

/* Serials of tenant uploads, over every backend of the process. */
static uint64_t tenant_serials;

static cv_status cuda_tenant_upload(cv_backend_t *b, const cv_graph_t *g, cv_precision_t precision,
                                    void *const *stored, void ***constants, cv_err_t *err)
{
    cv_status bound = cuda_bind(b, err);
    if (bound != CV_STATUS_OK) return bound;
    int nv = g->nvalues;
    bool want_half = precision == CV_PRECISION_FP16 || precision == CV_PRECISION_BF16;
    /* [0, nv): FP32 copies; [nv, 2nv): half copies; 2nv: the block; 2nv+1:
     * its size, charged to the loading tenant's account; 2nv+2: the serial;
     * 2nv+3: the device copy of [0, 2nv); 2nv+4: whether any constant is
     * the weight store's (cuda_internal.h). */
    void **table = (void **)cv_calloc(2 * (size_t)nv + 5, sizeof(void *));
    bool *needs_half = (bool *)cv_calloc((size_t)nv + 1, sizeof(bool));
    size_t *at = (size_t *)cv_calloc(2 * (size_t)nv + 1, sizeof(size_t));
    /* The weights kept as their half copy alone, and what the host reads
     * (which keeps its FP32 copy): NULL unless asked for. */
    bool *half_only = NULL, *host_read = NULL;
    char *block = NULL;
    size_t total = 0, largest_half = 0, pointers_at = 0;
    cudaError_t allocated;
    cv_status st = CV_STATUS_OK;
    if (!table || !needs_half || !at) {
        st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the constants of %s", g->path);
        goto done;
    }
    if (want_half) cv_backend_half_weights(g, needs_half);
    if (want_half && ((cv_cuda_t *)b)->half_only_weights) {
        half_only = (bool *)cv_calloc((size_t)nv + 1, sizeof(bool));
        host_read = (bool *)cv_calloc((size_t)nv + 1, sizeof(bool));
        if (!half_only || !host_read || cv_graph_host_read_weights(g, host_read) != CV_STATUS_OK) {
            st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for the constants of %s", g->path);
            goto done;
        }
        cv_backend_half_only_weights(g, half_only);
        for (int v = 0; v < nv; v++) half_only[v] = half_only[v] && !host_read[v];
    }
    total = constants_layout(g, stored, needs_half, half_only, at, &largest_half);
    /* The device copy of the table's pointers ([0, 2nv)), at the block's
     * end: what the super-kernel cache's rebind kernel reads. */
    pointers_at = total;
    total += align_up(sizeof(void *) * 2 * (size_t)nv + 1);
    allocated = cv_cuda_malloc((void **)&block, total);
    if (allocated != cudaSuccess) {
        cudaGetLastError();
        block = NULL;
        st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of GPU memory for the constants of %s (%zu bytes): %s",
                       g->path, total, cudaGetErrorString(allocated));
        goto done;
    }
    table[2 * nv] = block;
    table[2 * nv + 1] = (void *)(uintptr_t)total;
    table[2 * nv + 2] = (void *)(uintptr_t)__atomic_add_fetch(&tenant_serials, 1, __ATOMIC_RELAXED);
    st = constants_copy(b, g, precision, stored, needs_half, half_only, at, largest_half, block, table, err);
    table[2 * nv + 3] = block + pointers_at;
    for (int v = 0; v < nv && !table[2 * nv + 4]; v++)
        if (is_stored(stored, v)) table[2 * nv + 4] = (void *)(uintptr_t)1;
    /* From the host table itself: pageable, so read when the call returns. */
    if (st == CV_STATUS_OK) st = cuda_upload(b, table[2 * nv + 3], table, sizeof(void *) * 2 * (size_t)nv, err);
    if (st == CV_STATUS_OK) {
        cudaError_t e = cudaStreamSynchronize(((cv_cuda_t *)b)->stream);
        if (e != cudaSuccess) st = cv_cuda_status(e, "cudaStreamSynchronize (constants)", __FILE__, __LINE__, err);
    }
done:
    cv_free(needs_half);
    cv_free(at);
    cv_free(half_only);
    cv_free(host_read);
    if (st != CV_STATUS_OK) {
        if (block) cudaFree(block);
        cv_free(table);
        return st;
    }
    cv_account_charge_device((long long)(uintptr_t)table[2 * nv + 1]);
    *constants = table;
    return CV_STATUS_OK;
}

/* A stored weight's allocation: its bytes, then its half copy, each
 * TENSOR_ALIGN-aligned inside it. From the device's stream-ordered pool
 * where the device has one: the pool carves tensors out of larger chunks,
 * so that the hundreds of small tensors of a model (biases) do not each
 * take a page, and gives freed ones back at the next synchronisation. */
static cudaError_t weight_alloc(cv_cuda_t *cuda, void **block, size_t bytes)
{
    if (cv_alloc_device_injected_failure()) return cudaErrorMemoryAllocation;
    if (!cuda->pools) return cudaMalloc(block, bytes);
    cudaError_t e = cudaMallocAsync(block, bytes, cuda->stream);
    return e == cudaSuccess ? cudaStreamSynchronize(cuda->stream) : e;
}

static void weight_free(cv_cuda_t *cuda, void *block)
{
    cudaMemPool_t pool;
    if (!cuda->pools) {
        cudaFree(block);
    } else if (cudaFreeAsync(block, cuda->stream) == cudaSuccess &&
               cudaStreamSynchronize(cuda->stream) == cudaSuccess &&
               cudaDeviceGetMemPool(&pool, cuda->device) == cudaSuccess) {
        /* Back to the pool, and what the pool holds unused back to the
         * device now, so that the device's free memory (placement, the
         * memory wall) shows it. */
        cudaMemPoolTrimTo(pool, 0);
    }
    cudaGetLastError();
}

static cv_status cuda_weight_upload(cv_backend_t *b, const cv_tensor_t *t, cv_precision_t half, bool half_only,
                                    void **block, void **device, void **device_half, size_t *bytes, cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    cv_status st = cuda_bind(b, err);
    if (st != CV_STATUS_OK) return st;
    *block = *device = *device_half = NULL;
    *bytes = 0;
    bool want_half = (half == CV_PRECISION_FP16 || half == CV_PRECISION_BF16) && t->dtype == CV_DTYPE_FP32;
    /* The half copy alone where the caller allows it and this backend was
     * asked to (CARAVEL_HALF_WEIGHTS=only): no FP32 bytes on the device. */
    bool only = want_half && half_only && cuda->half_only_weights;
    int64_t n = cv_shape_numel(&t->shape);
    size_t own = only ? 0 : align_up(cv_tensor_nbytes(t) + 1), half_bytes = want_half ? (size_t)n * 2 : 0;
    /* Slack to align the start where the allocator gives less. */
    size_t total = own + (want_half ? align_up(half_bytes + 1) : 0) + TENSOR_ALIGN;
    uint16_t *scratch = NULL;
    if (want_half && !(scratch = (uint16_t *)cv_malloc(half_bytes + 1)))
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory converting a weight to half precision");
    void *raw = NULL;
    cudaError_t e = weight_alloc(cuda, &raw, total);
    if (e != cudaSuccess) {
        cudaGetLastError();
        cv_free(scratch);
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of GPU memory for a weight (%zu bytes): %s", total,
                         cudaGetErrorString(e));
    }
    char *at = (char *)(((uintptr_t)raw + TENSOR_ALIGN - 1) & ~(uintptr_t)(TENSOR_ALIGN - 1));
    if (!only) st = cuda_upload(b, at, t->data, cv_tensor_nbytes(t), err);
    if (st == CV_STATUS_OK && want_half) {
        cv_backend_to_half((const float *)t->data, n, half, scratch);
        st = cuda_upload(b, at + own, scratch, half_bytes, err);
    }
    if (st == CV_STATUS_OK) {
        e = cudaStreamSynchronize(cuda->stream);
        if (e != cudaSuccess) st = cv_cuda_status(e, "cudaStreamSynchronize (a weight)", __FILE__, __LINE__, err);
    }
    cv_free(scratch);
    if (st != CV_STATUS_OK) {
        weight_free(cuda, raw);
        return st;
    }
    *block = raw;
    *device_half = want_half ? at + own : NULL;
    *device = only ? *device_half : at;
    *bytes = total;
    cv_account_charge_device((long long)total);
    return CV_STATUS_OK;
}

static void cuda_weight_release(cv_backend_t *b, void *block, size_t bytes)
{
    if (!block) return;
    if (cuda_bind(b, NULL) != CV_STATUS_OK) return;
    weight_free((cv_cuda_t *)b, block);
    cv_account_charge_device(-(long long)bytes);
}

/* ---- host fallback -------------------------------------------------------- */

/* Downloads into dst (host, FP32) the `bytes` of input i of run, as the
 * constants table `table` holds it when the input is a tenant's weight
 * (`from`: that table's entry for it, else the input's data): where the
 * table keeps the weight as its half copy alone ([v] == [nvalues + v]),
 * that copy, converted back to FP32 (the host kernels read FP32). */
static cv_status download_input(cv_cuda_t *cuda, const cv_step_run_t *run, int i, void *const *table, const void *from,
                                void *dst, size_t bytes, cv_err_t *err)
{
    int v = run->node->inputs[i];
    const cv_value_t *val = v >= 0 ? &run->graph->values[v] : NULL;
    bool half_only = val && val->constant && val->is_weight && from && from == table[run->graph->nvalues + v];
    if (!half_only) return cuda_download(&cuda->base, dst, from, bytes, err);
    size_t n = bytes / sizeof(float);
    uint16_t *half = (uint16_t *)cv_malloc(n * 2 + 1);
    if (!half) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of host memory for a fallback step's weight");
    cv_status st = cuda_download(&cuda->base, half, from, n * 2, err);
    float *f = (float *)dst;
    for (size_t k = 0; k < n && st == CV_STATUS_OK; k++)
        f[k] = run->precision == CV_PRECISION_BF16 ? cv_bf16_to_fp32(half[k]) : cv_fp16_to_fp32(half[k]);
    cv_free(half);
    return st;
}

extern "C" cv_status cv_cuda_run_on_host(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    cuda_backend_t *be = (cuda_backend_t *)cuda;
    const cv_node_t *node = run->node;
    const cv_op_def_t *def = cv_op_def(node->op);
    if (!def->cpu)
        return cv_errorf(err, CV_STATUS_UNSUPPORTED, "%s has neither a CUDA nor a CPU kernel", cv_op_name(node->op));
    /* Host steps synchronise: under capture, the wave goes eager first. */
    if (cv_cuda_graph_capturing(cuda)) return cv_cuda_graph_abort(cuda, "a step runs on the host", err);
    if (cuda->fallbacks[node->op]++ == 0)
        cv_log(CV_LOG_INFO, "cuda: %s steps run on the host (no CUDA kernel for this case); counted from now on",
               cv_op_name(node->op));

    /* The step's tensors in host memory: hin/hout hold the copies, and
     * `host` is the same step over them. */
    int nin = run->ninputs, nout = run->noutputs;
    cv_tensor_t *hin = (cv_tensor_t *)cv_calloc((size_t)nin + 1, sizeof(cv_tensor_t));
    cv_tensor_t *hout = (cv_tensor_t *)cv_calloc((size_t)nout + 1, sizeof(cv_tensor_t));
    const cv_tensor_t **in_ptrs = (const cv_tensor_t **)cv_calloc((size_t)nin + 1, sizeof(cv_tensor_t *));
    cv_tensor_t **out_ptrs = (cv_tensor_t **)cv_calloc((size_t)nout + 1, sizeof(cv_tensor_t *));
    cv_step_views_t views = {};
    cv_status st = CV_STATUS_OK;
    if (!hin || !hout || !in_ptrs || !out_ptrs)
        st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of host memory for a fallback step");
    for (int i = 0; i < nin && st == CV_STATUS_OK; i++) {
        const cv_tensor_t *t = run->inputs[i];
        if (!t) continue;
        hin[i] = *t;
        hin[i].data = cv_malloc(cv_tensor_nbytes(t) + 1);
        in_ptrs[i] = &hin[i];
        if (!hin[i].data) st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of host memory for a fallback step");
        else st = download_input(cuda, run, i, run->slices[0].constants, t->data, hin[i].data, cv_tensor_nbytes(t), err);
    }
    for (int o = 0; o < nout && st == CV_STATUS_OK; o++) {
        const cv_tensor_t *t = run->outputs[o];
        if (!t) continue;
        hout[o] = *t;
        hout[o].data = cv_calloc(1, cv_tensor_nbytes(t) + 1);
        out_ptrs[o] = &hout[o];
        if (!hout[o].data) st = cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of host memory for a fallback step");
    }
    cv_op_args_t args = {node, in_ptrs, nin, out_ptrs, nout, &be->cpu};
    bool weighted = run->plan->steps[run->step].weighted && run->nslices > 1;
    if (st == CV_STATUS_OK && !weighted) st = def->cpu(&args, err);
    /* A weighted step of several slices: one kernel call per run of slices
     * with the same weights (cv_step_shared_run), on their rows, with their
     * weights (downloaded into the host copy of slice 0's). */
    cv_step_run_t host = *run;
    host.inputs = in_ptrs;
    host.outputs = out_ptrs;
    if (st == CV_STATUS_OK && weighted) st = cv_step_views_init(&views, &host, err);
    for (int s = 0, end = 0; s < run->nslices && weighted && st == CV_STATUS_OK; s = end) {
        end = cv_step_shared_run(run, s);
        cv_step_run_views(&host, s, end, &views);
        for (int i = 0; i < nin && st == CV_STATUS_OK; i++) {
            int v = node->inputs[i];
            if (!in_ptrs[i] || !(run->graph->values[v].constant && run->graph->values[v].is_weight)) continue;
            st = download_input(cuda, run, i, run->slices[s].constants, run->slices[s].constants[v], hin[i].data,
                                cv_tensor_nbytes(&hin[i]), err);
            views.in_ptrs[i] = &hin[i];
        }
        args.inputs = views.in_ptrs;
        args.outputs = views.out_ptrs;
        if (st == CV_STATUS_OK) st = def->cpu(&args, err);
    }
    for (int o = 0; o < nout && st == CV_STATUS_OK; o++)
        if (out_ptrs[o]) st = cuda_upload(&cuda->base, run->outputs[o]->data, hout[o].data, cv_tensor_nbytes(&hout[o]), err);
    /* The host copies are pageable memory: a download has completed when
     * it returns, and an upload has been staged, so they may go now. */
    cv_step_views_free(&views);
    for (int i = 0; hin && i < nin; i++) cv_free(hin[i].data);
    for (int o = 0; hout && o < nout; o++) cv_free(hout[o].data);
    cv_free(hin);
    cv_free(hout);
    cv_free(in_ptrs);
    cv_free(out_ptrs);
    return st;
}

/* ---- steps ---------------------------------------------------------------- */

/* Whether a step reads or writes an activation the wave keeps in half
 * (act_of) or channels innermost (nhwc_of): the host's kernels read and
 * write FP32 planes alone, so such a step never falls back. The plan
 * gives such values to 2-D Convs and MaxPools only, whose kernels take any
 * real extents. */
static bool step_device_only(const cv_cuda_t *cuda, const cv_step_run_t *run)
{
    const cv_node_t *n = run->node;
    for (int i = 0; i < n->ninputs; i++)
        if (act_of(cuda, run, n->inputs[i]) != ACT_F32 || nhwc_of(cuda, run, n->inputs[i])) return true;
    for (int o = 0; o < n->noutputs; o++)
        if (act_of(cuda, run, n->outputs[o]) != ACT_F32 || nhwc_of(cuda, run, n->outputs[o])) return true;
    return false;
}

static cv_status cuda_dispatch(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    cuda_op_fn entry = op_entries[run->node->op];
    if (!entry) return cv_cuda_run_on_host(cuda, run, err);
    cv_status st = entry(cuda, run, err);
    if (st == CV_STATUS_UNSUPPORTED && step_device_only(cuda, run)) return st; /* the refusal stands */
    if (st == CV_STATUS_UNSUPPORTED) {
        /* Entries refuse a case before they launch anything. */
        cv_log(CV_LOG_DEBUG, "cuda: %s: %s; running it on the host", cv_op_name(run->node->op), err ? err->msg : "");
        return cv_cuda_run_on_host(cuda, run, err);
    }
    return st;
}

static cv_status cuda_step_run(cv_backend_t *b, const cv_step_run_t *run, cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    if (cv_cuda_graph_capturing(cuda)) return cv_cuda_graph_step(cuda, run, cuda_dispatch, err);
    return cuda_dispatch(cuda, run, err);
}

static cv_status cuda_synchronize(cv_backend_t *b, cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    if (cuda->wait_blocking) {
        CV_CUDA_CHECK(cudaEventRecord(cuda->wave_done, cuda->stream), err);
        CV_CUDA_CHECK(cudaEventSynchronize(cuda->wave_done), err);
    } else {
        CV_CUDA_CHECK(cudaStreamSynchronize(cuda->stream), err);
    }
    ((cuda_backend_t *)cuda)->pinned_used = 0;
    cv_cuda_graph_synchronized(cuda);
    cudaError_t refused = cv_cuda_graph_take_launch_error(cuda);
    if (refused != cudaSuccess) /* the wave's graph never ran: its outputs are stale */
        return cv_errorf(err, CV_STATUS_INTERNAL, "a wave launched from the device did not run: %s",
                         cudaGetErrorString(refused));
    return CV_STATUS_OK;
}

static void cuda_destroy(cv_backend_t *b)
{
    cuda_backend_t *be = (cuda_backend_t *)b;
    cv_cuda_t *cuda = &be->cuda;
    if (cuda->stream) cudaStreamSynchronize(cuda->stream);
    cv_cuda_graphs_destroy(cuda);
    cv_cuda_host_blocks_destroy(cuda);
    if (cuda->cublas) cublasDestroy(cuda->cublas);
    cudaFree(be->cublas_workspace);
    cudaFree(cuda->workspace);
    cudaFree(cuda->pinned_device);
    if (cuda->pinned) cudaFreeHost(cuda->pinned);
    if (cuda->stream) cudaStreamDestroy(cuda->stream);
    if (cuda->wave_done) cudaEventDestroy(cuda->wave_done);
    cudaGetLastError();
    cv_cpu_ctx_release(&be->cpu);
    cv_free(be);
}

static bool cuda_half_only_weights(cv_backend_t *b) { return ((cv_cuda_t *)b)->half_only_weights; }

static void cuda_tenant_identity(cv_backend_t *b, const cv_graph_t *g, void *const *constants, uint64_t *serial,
                                 bool *may_share)
{
    (void)b;
    *serial = cv_cuda_tenant_serial(constants, g);
    *may_share = cv_cuda_tenant_may_share(constants, g);
}

static const cv_backend_i cuda_iface = {
    /* .name           = */ "cuda",
    /* .host_memory    = */ false,
    /* .alloc          = */ cuda_alloc,
    /* .free           = */ cuda_free,
    /* .host_alloc     = */ cuda_host_alloc,
    /* .host_free      = */ cuda_host_free,
    /* .upload         = */ cuda_upload,
    /* .download       = */ cuda_download,
    /* .copy_many      = */ cv_cuda_copy_many,
    /* .tenant_upload  = */ cuda_tenant_upload,
    /* .tenant_release = */ cuda_tenant_release,
    /* .weight_upload  = */ cuda_weight_upload,
    /* .weight_release = */ cuda_weight_release,
    /* .step_run       = */ cuda_step_run,
    /* .synchronize    = */ cuda_synchronize,
    /* .wave_begin     = */ cv_cuda_wave_begin,
    /* .wave_end       = */ cv_cuda_wave_end,
    /* .forget         = */ cuda_forget,
    /* .bind           = */ cuda_bind,
    /* .step_mark      = */ cv_cuda_step_mark,
    /* .step_times     = */ cv_cuda_step_times,
    /* .stats          = */ cv_cuda_stats,
    /* .device_info    = */ cuda_device_info,
    /* .destroy        = */ cuda_destroy,
    /* .half_only_weights = */ cuda_half_only_weights,
    /* .tenant_identity = */ cuda_tenant_identity,
};

extern "C" int cv_backend_cuda_device_count(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return count;
}

/* An environment switch of two words: unset, empty or the word `off` leaves *on
 * false, `on_word` sets it; anything else is an error naming both. */
static cv_status env_switch(const char *name, const char *off, const char *on_word, bool on_by_default, bool *on,
                            cv_err_t *err)
{
    const char *env = getenv(name);
    *on = env && *env ? !strcmp(env, on_word) : on_by_default;
    if (!env || !*env || *on || !strcmp(env, off)) return CV_STATUS_OK;
    return cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "%s must be %s or %s, not '%.40s'", name, off, on_word, env);
}

extern "C" cv_status cv_backend_cuda_create(int device, cv_backend_t **out, cv_err_t *err)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        return cv_errorf(err, CV_STATUS_UNAVAILABLE, "no usable CUDA GPU: %s",
                         e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found none");
    }
    if (device < 0 || device >= count)
        return cv_errorf(err, CV_STATUS_UNAVAILABLE, "CUDA device %d does not exist (%d found)", device, count);
    cuda_backend_t *be = (cuda_backend_t *)cv_calloc(1, sizeof(*be));
    if (!be) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory creating the CUDA backend");
    cv_cuda_t *cuda = &be->cuda;
    cuda->base.iface = &cuda_iface;
    cuda->base.context = be;
    cuda->device = device;
    be->cpu.threads = 1;
    cv_status st = CV_STATUS_OK;
    cublasStatus_t cs;
    if ((e = cudaSetDevice(device)) != cudaSuccess) goto cuda_fail;
    {
        cudaDeviceProp prop;
        if ((e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess) goto cuda_fail;
        snprintf(be->name, sizeof be->name, "%.95s", prop.name);
        format_uuid(&prop.uuid, be->uuid, sizeof be->uuid);
    }
    if ((e = cudaStreamCreateWithFlags(&cuda->stream, cudaStreamNonBlocking)) != cudaSuccess) goto cuda_fail;
    if ((cs = cublasCreate(&cuda->cublas)) != CUBLAS_STATUS_SUCCESS) {
        cuda->cublas = NULL;
        st = cv_cublas_status(cs, "cublasCreate", __FILE__, __LINE__, err);
        goto fail;
    }
    if ((cs = cublasSetStream(cuda->cublas, cuda->stream)) != CUBLAS_STATUS_SUCCESS ||
        (cs = cublasSetMathMode(cuda->cublas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
        st = cv_cublas_status(cs, "cublasSetStream/cublasSetMathMode", __FILE__, __LINE__, err);
        goto fail;
    }
    /* After cublasSetStream, which resets it: cuBLAS must not allocate
     * while a wave is captured. */
    if ((e = cv_cuda_malloc((void **)&be->cublas_workspace, CUBLAS_WORKSPACE)) != cudaSuccess) goto cuda_fail;
    if ((cs = cublasSetWorkspace(cuda->cublas, be->cublas_workspace, CUBLAS_WORKSPACE)) != CUBLAS_STATUS_SUCCESS) {
        st = cv_cublas_status(cs, "cublasSetWorkspace", __FILE__, __LINE__, err);
        goto fail;
    }
    if ((e = cv_cuda_malloc_host((void **)&cuda->pinned, PINNED_INITIAL)) != cudaSuccess) goto cuda_fail;
    if ((e = cv_cuda_malloc((void **)&cuda->pinned_device, PINNED_INITIAL)) != cudaSuccess) goto cuda_fail;
    cuda->pinned_bytes = PINNED_INITIAL;
    {
        int pools = 0;
        if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess) pools = 0;
        cudaGetLastError();
        cuda->pools = pools != 0;
    }
    {
        const char *env = getenv("CARAVEL_POINTWISE");
        if (!env || !*env || !strcmp(env, "auto")) cuda->pointwise_own_max_k = CV_CUDA_POINTWISE_OWN_MAX_K;
        else if (!strcmp(env, "own")) cuda->pointwise_own_max_k = INT64_MAX;
        else if (!strcmp(env, "cublas")) cuda->pointwise_own_max_k = 0;
        else {
            st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT, "CARAVEL_POINTWISE must be auto, own or cublas, not '%.40s'",
                           env);
            goto fail;
        }
    }
    {
        /* The largest plane (pixels) kept channels innermost: the small
         * planes' 400 unless measured otherwise (bench, tests). */
        const char *env = getenv("CARAVEL_NHWC_PIXELS");
        char *end = NULL;
        long long v = env && *env ? strtoll(env, &end, 10) : CONV_CHANNELS_C_PIXELS;
        if (env && *env && (*end || v < 1 || v > INT32_MAX)) {
            st = cv_errorf(err, CV_STATUS_INVALID_ARGUMENT,
                           "CARAVEL_NHWC_PIXELS must be a number of pixels from 1 to %d, not '%.40s'", INT32_MAX, env);
            goto fail;
        }
        cuda->nhwc_max_pixels = v;
    }
    if ((st = env_switch("CARAVEL_HALF_WEIGHTS", "both", "only", true, &cuda->half_only_weights, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_DEPTHWISE", "direct", "tiled", true, &cuda->depthwise_tiled, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_HALF_ACTIVATIONS", "fp32", "half", true, &cuda->half_activations, err)) !=
            CV_STATUS_OK ||
        (st = env_switch("CARAVEL_CONV_C", "planes", "channels", true, &cuda->conv_channels_c, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_CONV_COLUMNS", "pixels", "taps", true, &cuda->conv_k_major, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_IM2COL", "first", "tuned", false, &cuda->im2col_tuned, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_CONV_GEMM", "cublas", "cutlass", true, &cuda->conv_cutlass, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_CUTLASS_PLANES", "large", "all", false, &cuda->cutlass_small_planes, err)) !=
            CV_STATUS_OK ||
        (st = env_switch("CARAVEL_HALF_POOLS", "fp32", "half", true, &cuda->half_pools, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_POOL", "generic", "2d", false, &cuda->pool2d, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_SMALL_PLANES", "nchw", "nhwc", false, &cuda->small_planes_nhwc, err)) !=
            CV_STATUS_OK ||
        (st = env_switch("CARAVEL_NHWC_GEMM", "cublas", "cutlass", false, &cuda->nhwc_cutlass, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_CHANNELS_EPILOGUE", "tiles", "spans", false, &cuda->channels_spans, err)) !=
            CV_STATUS_OK ||
        (st = env_switch("CARAVEL_FP32_GEMM", "sgemm", "3xtf32", false, &cuda->fp32_3xtf32, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_TF32_GEMM", "cublas", "cutlass", false, &cuda->tf32_cutlass, err)) != CV_STATUS_OK ||
        (st = env_switch("CARAVEL_WAIT", "spin", "block", false, &cuda->wait_blocking, err)) != CV_STATUS_OK)
        goto fail;
    if (cuda->wait_blocking &&
        (e = cudaEventCreateWithFlags(&cuda->wave_done, cudaEventBlockingSync | cudaEventDisableTiming)) != cudaSuccess)
        goto cuda_fail;
    if ((st = cv_cuda_graphs_create(cuda, err)) != CV_STATUS_OK) goto fail;
    if ((st = cv_cuda_host_blocks_create(cuda, err)) != CV_STATUS_OK) goto fail;
    *out = &cuda->base;
    return CV_STATUS_OK;
cuda_fail:
    st = cv_cuda_status(e, "creating the CUDA backend", __FILE__, __LINE__, err);
fail:
    cuda_destroy(&cuda->base);
    return st;
}
