/*
 * cuda_copy.cu: a wave's uploads and downloads as one operation
 * (copy_many): the slices' inputs from their request buffers into the
 * wave's input rows, and the output rows back into each slice's buffers.
 *
 * One cudaMemcpyAsync a copy costs the host 2-3 us each on the H100's
 * host, 140-220 us for a wave of 64 requests (docs/RESULTS.md), where issue
 * 8 asks 20 us for the whole launch. Request buffers are pinned blocks
 * (host_alloc: portable and mapped), so a batch whose every host side is
 * such a block goes as one call:
 *   - by default, cudaMemcpyBatchAsync: the copy engines, as before, but
 *     one call for the batch (a driver without it, or refusing it, makes
 *     the backend copy one by one from then on);
 *   - with CARAVEL_COPY_KERNEL=on, one kernel over a staged table of (dst,
 *     src, bytes) that reads and writes the blocks by their host addresses
 *     (unified addressing): one table copy and one launch, but SMs instead
 *     of copy engines, so it stays opt-in until measured.
 * A batch with any host side that is not such a block (pageable memory, a
 * caller's tensor) is copied one by one with cudaMemcpyAsync.
 *
 * The blocks are kept, for every backend of the process, in one sorted
 * array under a mutex: the runtime's backend allocates request buffers
 * (host_alloc) on the threads that make and free requests, and the lanes'
 * backends copy them (copy_many). Pinned blocks are portable under unified
 * addressing, so one registry serves every device.
 */
#include "backend/cuda/cuda_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct host_block {
    uintptr_t base;
    size_t bytes;
} host_block_t;

typedef struct cv_cuda_host_blocks {
    pthread_mutex_t mu;
    host_block_t *blocks; /* sorted by base */
    int n, cap;
} host_blocks_t;

/* The process's registry (the array lives as long as the process). */
static host_blocks_t registry = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

extern "C" cv_status cv_cuda_host_blocks_create(cv_cuda_t *cuda, cv_err_t *err)
{
    (void)err;
    cuda->host_blocks = &registry;
    const char *env = getenv("CARAVEL_COPY_KERNEL");
    cuda->copy_kernel = env && (!strcmp(env, "on") || !strcmp(env, "1"));
    cuda->copy_batch = true;
    return CV_STATUS_OK;
}

extern "C" void cv_cuda_host_blocks_destroy(cv_cuda_t *cuda) { cuda->host_blocks = NULL; }

/* Index of the first block whose base is above p. */
static int upper(const host_blocks_t *h, uintptr_t p)
{
    int lo = 0, hi = h->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (h->blocks[mid].base <= p) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

extern "C" void cv_cuda_host_block_note(cv_cuda_t *cuda, void *ptr, size_t bytes)
{
    host_blocks_t *h = cuda->host_blocks;
    if (!h || !ptr) return;
    pthread_mutex_lock(&h->mu);
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 64;
        host_block_t *grown = (host_block_t *)cv_realloc(h->blocks, sizeof(*grown) * (size_t)cap);
        if (!grown) { /* not noted: copied with cudaMemcpyAsync */
            pthread_mutex_unlock(&h->mu);
            return;
        }
        h->blocks = grown;
        h->cap = cap;
    }
    int at = upper(h, (uintptr_t)ptr);
    memmove(&h->blocks[at + 1], &h->blocks[at], sizeof(*h->blocks) * (size_t)(h->n - at));
    h->blocks[at] = (host_block_t){(uintptr_t)ptr, bytes};
    h->n++;
    pthread_mutex_unlock(&h->mu);
}

extern "C" void cv_cuda_host_block_forget(cv_cuda_t *cuda, void *ptr)
{
    host_blocks_t *h = cuda->host_blocks;
    if (!h || !ptr) return;
    pthread_mutex_lock(&h->mu);
    int at = upper(h, (uintptr_t)ptr) - 1;
    if (at >= 0 && h->blocks[at].base == (uintptr_t)ptr) {
        memmove(&h->blocks[at], &h->blocks[at + 1], sizeof(*h->blocks) * (size_t)(h->n - at - 1));
        h->n--;
    }
    pthread_mutex_unlock(&h->mu);
}

/* Whether [p, p + bytes) lies inside one noted block. Called with mu held. */
static bool in_block(const host_blocks_t *h, const void *p, size_t bytes)
{
    int at = upper(h, (uintptr_t)p) - 1;
    if (at < 0) return false;
    const host_block_t *b = &h->blocks[at];
    uintptr_t q = (uintptr_t)p;
    return q - b->base <= b->bytes && bytes <= b->bytes - (q - b->base);
}

typedef struct copy_entry {
    char *dst;
    const char *src;
    unsigned long long bytes;
} copy_entry_t;

/* Entry k of the table is blockIdx.y's (and every gridDim.y-th after);
 * the x blocks share its bytes, 16 at a time where dst, src and the
 * length allow, else one by one. */
static __global__ void copy_many_kernel(const copy_entry_t *__restrict__ table, int n)
{
    for (int k = blockIdx.y; k < n; k += gridDim.y) {
        copy_entry_t e = table[k];
        size_t first = blockIdx.x * (size_t)blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
        if ((((uintptr_t)e.dst | (uintptr_t)e.src | (uintptr_t)e.bytes) & 15) == 0) {
            uint4 *d = (uint4 *)e.dst;
            const uint4 *s = (const uint4 *)e.src;
            for (size_t i = first; i < e.bytes / 16; i += step) d[i] = s[i];
        } else {
            for (size_t i = first; i < e.bytes; i += step) e.dst[i] = e.src[i];
        }
    }
}

/* One copy at a time on the stream's copy engine. */
static cv_status copy_each(cv_cuda_t *cuda, const cv_copy_t *c, int n, bool to_device, cv_err_t *err)
{
    for (int k = 0; k < n; k++) {
        if (!c[k].bytes) continue;
        CV_CUDA_CHECK(cudaMemcpyAsync(c[k].dst, c[k].src, c[k].bytes,
                                      to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, cuda->stream),
                      err);
    }
    return CV_STATUS_OK;
}

/* Blocks a copy in x: enough 16-byte loads in flight to cover PCIe's
 * latency across the batch, at most 32 a copy. */
#define COPY_THREADS 256
#define COPY_MAX_X 32

/* The batch through the copy engines in one call; false when the driver
 * refused it (nothing was queued: the caller copies one by one). */
static bool copy_batched(cv_cuda_t *cuda, const cv_copy_t *c, int n)
{
    void **dsts = (void **)cv_malloc(sizeof(void *) * (size_t)n);
    const void **srcs = (const void **)cv_malloc(sizeof(void *) * (size_t)n);
    size_t *sizes = (size_t *)cv_malloc(sizeof(size_t) * (size_t)n);
    bool done = false;
    if (dsts && srcs && sizes) {
        size_t m = 0;
        for (int k = 0; k < n; k++) {
            if (!c[k].bytes) continue;
            dsts[m] = c[k].dst;
            srcs[m] = c[k].src;
            sizes[m++] = c[k].bytes;
        }
        /* Sources read in stream order: a request buffer is written
         * before its wave is launched, an output row by the wave itself. */
        cudaMemcpyAttributes attr;
        memset(&attr, 0, sizeof attr);
        attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
        size_t first = 0;
        done = m == 0 || cudaMemcpyBatchAsync(dsts, srcs, sizes, m, &attr, &first, 1, cuda->stream) == cudaSuccess;
        if (!done) {
            cudaGetLastError();
            cuda->copy_batch = false;
            cv_log(CV_LOG_INFO, "cuda: cudaMemcpyBatchAsync refused a wave's copies; copying one by one from now on");
        }
    }
    cv_free(dsts);
    cv_free(srcs);
    cv_free(sizes);
    return done;
}

extern "C" cv_status cv_cuda_copy_many(cv_backend_t *b, const cv_copy_t *c, int n, bool to_device, cv_err_t *err)
{
    cv_cuda_t *cuda = (cv_cuda_t *)b;
    host_blocks_t *h = cuda->host_blocks;
    if (!(cuda->copy_kernel || cuda->copy_batch) || !h || n < 2) return copy_each(cuda, c, n, to_device, err);
    size_t widest = 0;
    bool pinned = true;
    pthread_mutex_lock(&h->mu);
    for (int k = 0; k < n && pinned; k++) {
        pinned = !c[k].bytes || in_block(h, to_device ? c[k].src : c[k].dst, c[k].bytes);
        if (c[k].bytes > widest) widest = c[k].bytes;
    }
    pthread_mutex_unlock(&h->mu);
    if (!pinned || widest == 0) return copy_each(cuda, c, n, to_device, err);
    if (!cuda->copy_kernel) {
        if (!copy_batched(cuda, c, n)) return copy_each(cuda, c, n, to_device, err);
        cuda->batches_by_batch_call++;
        return CV_STATUS_OK;
    }

    void *host, *dev;
    size_t table_bytes = sizeof(copy_entry_t) * (size_t)n;
    cv_status st = cv_cuda_stage(cuda, table_bytes, &host, &dev, err);
    if (st != CV_STATUS_OK) return st;
    copy_entry_t *t = (copy_entry_t *)host;
    for (int k = 0; k < n; k++) t[k] = (copy_entry_t){(char *)c[k].dst, (const char *)c[k].src, c[k].bytes};
    CV_CUDA_CHECK(cudaMemcpyAsync(dev, host, table_bytes, cudaMemcpyHostToDevice, cuda->stream), err);
    size_t per_block = (size_t)COPY_THREADS * 16;
    size_t gx = (widest + per_block - 1) / per_block;
    dim3 grid((unsigned)(gx < COPY_MAX_X ? gx : COPY_MAX_X), (unsigned)(n < 65535 ? n : 65535));
    copy_many_kernel<<<grid, COPY_THREADS, 0, cuda->stream>>>((const copy_entry_t *)dev, n);
    CV_CUDA_CHECK_LAUNCH(err);
    cuda->batches_by_kernel++;
    return CV_STATUS_OK;
}
