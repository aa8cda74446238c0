/*
 * cuda_gemm.cu: the GEMM-like ops on CUDA (Conv, Gemm, MatMul), each step
 * one launch set for the whole wave, whatever the number of tenants in it.
 *
 * Shape legend: Conv X [N, C, D, H, W], W [M, C/G, KD, KH, KW], Y [N, M,
 * OD, OH, OW] (1-D and 2-D convolutions are 3-D ones with leading extents
 * of 1); K = C/G * KD*KH*KW is a GEMM's inner dimension, P = OD*OH*OW its
 * pixels. Gemm/MatMul: Y [rows, N] = A [rows, K] x B [K, N].
 *
 * Conv of a wave:
 *   1. im2col of every row into the workspace (skipped for a 1x1, stride-1,
 *      unpadded FP32/TF32 conv: X is then the column matrix itself);
 *   2. ONE cublasGemmBatchedEx over all (row, group) problems, with pointer
 *      tables (that row's tenant's weights, that row's columns, that row's
 *      output) built in pinned memory and sent in one copy: exactly the
 *      launch of one model at the wave's rows, whose table holds one
 *      weight pointer for every row; tenants that share the layer (one
 *      copy in the weight store) fill their rows with that one pointer, so
 *      a shared step is that launch, whatever the slices; when every row
 *      has the same weights and G = 1 outside a wave the cache may capture,
 *      one strided-batched GEMM instead; a wave of few tiles has each
 *      problem's K cut into parts (conv_split), partial products in the
 *      workspace;
 *   3. ONE epilogue kernel: per-row bias pointer, the fused residual (a
 *      residual Add folded into the Conv at load, src/plan/fuse.c: the
 *      wave's tensor laid out as Y) and the fused activation (and the sum
 *      of the parts of a split K).
 *   FP32 1x1 convs of small K in waves of 8 rows or more skip 2-3: one
 *   kernel computes each row's GEMM with its epilogue (pointwise_conv_kernel);
 *   with CARAVEL_POINTWISE=own, so do FP16/BF16 ones whose X the wave
 *   keeps in half, on the tensor cores (pointwise_half_kernel; no faster
 *   than cuBLAS on the H100, so not the default).
 *   Depthwise (G == C == M, 2-D) is a direct kernel reading a per-row
 *   weight-pointer table, with bias, residual and activation fused: no GEMM.
 *   A wave too large for the column budget runs steps 1-2 per chunk of rows.
 * Gemm and MatMul with a weight operand: one problem per slice (its rows
 * are the problem's M, its tenant's B), or per run of slices whose tenants
 * share B (one address in the weight store: their rows are one problem, as
 * one model's batch), one cublasGemmBatchedEx when the problems are alike
 * (waves of batch-1 tenants), one
 * cublasGemmGroupedBatchedEx over slices of several heights (a batched
 * call per height where the grouped one does not support the types), then
 * one epilogue for C (per-slice pointer) and the activation. MatMul of
 * two activations (batch dims) is one batched GEMM over the broadcast batch.
 *
 * Tenants' weights in a wave the super-kernel cache may capture
 * (cv_cuda_members_indirect): every pointer into a tenant's constants goes
 * into a staged table through put_input (cv_cuda_stage_member), so that
 * the captured graph serves other members once its tables are rewritten.
 * There, W never becomes a cuBLAS argument: no strided-batched GEMM on a
 * tenant's W, and a single problem with a tenant's B is a batched GEMM of
 * one over pointer tables rather than cublasGemmEx. A weight still passed
 * by value (MatMul's A) binds the graph to its members (cuda_graph.cu).
 *
 * Precision (run->precision): FP32 = CUBLAS_COMPUTE_32F, default math (no
 * TF32); TF32 = CUBLAS_COMPUTE_32F_FAST_TF32; FP16/BF16 = half operands
 * (weights converted once at tenant upload, see cuda_internal.h; im2col
 * columns and activations converted by the kernels that write them into
 * the workspace), FP32 accumulation; bias, activation and the depthwise
 * kernel compute in FP32. The activations that only 2-D Convs write and
 * read (cv_plan_value_t.half_ok) stay FP16/BF16 between steps (act_of):
 * the GEMM writes such a Y as its C, the epilogue rounds once more after
 * bias, residual and clamp, a 1x1 Conv reads such an X as its operand
 * (direct), im2col and the depthwise kernels read and write them, and so
 * does MaxPool where asked (cuda_pool.cu, cv_cuda_t.half_pools); other
 * outputs (graph outputs, what another pooling or a Gemm reads) are FP32.
 * FP16 conv GEMMs may instead run in CUTLASS's kernels with the bias, the
 * residual and the clamp fused in (cuda_cutlass.cu, conv_plan_t.fused,
 * cv_cuda_t.conv_cutlass), and FP32 ones (pointer arrays, cuBLAS's
 * orientation) in 3xTF32 on the tensor cores at FP32's accuracy
 * (cuda_cutlass_fp32.cu, cv_cuda_t.fp32_3xtf32).
 *
 * Not here: dtypes other than FP32 and convolutions of more than 3 spatial
 * dims run on the host (cv_cuda_run_on_host).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/nn_geometry.h"
#include "backend/window.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_cutlass.h"
#include "backend/cuda/cuda_internal.h"

/* The columns of one chunk of rows stay below this many bytes. */
#define CONV_COL_BUDGET ((size_t)512 << 20)
/* CONV_CHANNELS_C_PIXELS (cuda_act.cuh): planes up to that many pixels
 * take conv_plan_t.channels_c (at 28x28 both orientations measured
 * level). */
#define THREADS 256

/* ---- small helpers -------------------------------------------------------- */

static bool is_half(cv_precision_t p) { return p == CV_PRECISION_FP16 || p == CV_PRECISION_BF16; }
static size_t operand_size(cv_precision_t p) { return is_half(p) ? 2 : 4; }

static cudaDataType operand_type(cv_precision_t p)
{
    if (p == CV_PRECISION_FP16) return CUDA_R_16F;
    if (p == CV_PRECISION_BF16) return CUDA_R_16BF;
    return CUDA_R_32F;
}

static cublasComputeType_t compute_type(cv_precision_t p)
{
    return p == CV_PRECISION_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

static unsigned grid_for(int64_t n)
{
    int64_t blocks = (n + THREADS - 1) / THREADS;
    if (blocks < 1) blocks = 1;
    return (unsigned)(blocks > 65535 * 16 ? 65535 * 16 : blocks);
}

static size_t align_up(size_t n) { return (n + 255) / 256 * 256; }

/* The fused activation as a clamp to [lo, hi] (src/backend/nn_geometry.c,
 * as the CPU kernels read it). */
typedef cv_clamp_t clamp_t;

/* V elements of one type moved as one load or store (4 to 32 bytes). */
template <int V, typename T> struct alignas(V * sizeof(T)) pack_t {
    T e[V];
};

/* Stores a pack of 16 bytes or a multiple at p (global memory, aligned
 * as the pack) as 16-byte vector stores, written out in PTX: assigning
 * the pack, or a uint4 of its bytes, left the compiler to choose, and in
 * loops over runtime-strided rows it emitted eight 2-byte or four 4-byte
 * stores (PTX of channels_span_kernel and im2col_nhwc_kernel, sixteenth
 * session), as CUTLASS's global_store avoids the same way. */
template <int V, typename T> static __device__ __forceinline__ void store_pack(T *p, const pack_t<V, T> &v)
{
    constexpr int n = (int)(sizeof(pack_t<V, T>) / 16);
    static_assert(n >= 1 && sizeof(pack_t<V, T>) % 16 == 0, "packs of 16 bytes or a multiple");
    unsigned w[4 * n];
    memcpy(w, &v, sizeof v);
#pragma unroll
    for (int i = 0; i < n; i++)
        asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};" ::"l"(reinterpret_cast<uint4 *>(p) + i),
                     "r"(w[4 * i]), "r"(w[4 * i + 1]), "r"(w[4 * i + 2]), "r"(w[4 * i + 3])
                     : "memory");
}

static bool is_tenant_constant(const cv_step_run_t *run, int i)
{
    int v = run->node->inputs[i];
    return v >= 0 && run->graph->values[v].constant != NULL;
}

/* Input i as slice s sees it: its tenant's own copy for a weight, else the
 * wave's tensor (shared constants are slice 0's, identical in the family). */
static const char *slice_input(const cv_step_run_t *run, int i, int s)
{
    int v = run->node->inputs[i];
    const cv_value_t *val = &run->graph->values[v];
    if (run->nslices > 1 && val->constant && val->is_weight) return (const char *)run->slices[s].constants[v];
    return (const char *)run->inputs[i]->data;
}

/* The FP16/BF16 copy of constant input i for slice s (tenant_upload made
 * it); NULL when input i is no tenant constant. */
static const char *slice_half_input(const cv_step_run_t *run, int i, int s)
{
    if (!is_tenant_constant(run, i)) return NULL;
    int v = run->node->inputs[i];
    int owner = run->nslices > 1 && run->graph->values[v].is_weight ? s : 0;
    return (const char *)cv_cuda_half_constant(run->slices[owner].constants, run->graph, v);
}

static bool step_weighted(const cv_step_run_t *run) { return run->plan->steps[run->step].weighted; }

static bool input_is_weight(const cv_step_run_t *run, int i)
{
    int v = i < run->ninputs && run->inputs[i] ? run->node->inputs[i] : -1;
    return v >= 0 && run->graph->values[v].constant && run->graph->values[v].is_weight;
}

/* Writes into *slot, a word of a table from cv_cuda_stage, where input i
 * of slice s is, `offset` bytes in (half: its FP16/BF16 copy). A tenant's
 * weight goes through cv_cuda_stage_member, so that a cached graph can
 * serve other members; anything else is the wave's tensor, the same for
 * every slice. */
static void put_input(cv_cuda_t *cuda, const cv_step_run_t *run, const void **slot, int i, int s, bool half,
                      size_t offset)
{
    if (input_is_weight(run, i)) {
        cv_cuda_stage_member(cuda, run, slot, run->nslices > 1 ? s : 0, run->node->inputs[i], half, offset);
        return;
    }
    const char *base = half ? slice_half_input(run, i, s) : (const char *)run->inputs[i]->data;
    CV_ASSERT(base);
    /* A half copy of a constant that is no weight is still slice 0's. */
    if (half) cv_cuda_graph_bind(cuda, "a GEMM reads the half copy of a structural constant");
    *slot = base + offset;
}

/* ---- kernels -------------------------------------------------------------- */

typedef cv_window_dims_t conv_dims_t;

/* ---- plane kernels ---------------------------------------------------------
 * im2col, the depthwise conv and the conv epilogue walk tensors laid out as
 * [rows, planes, inner] (a plane: one channel of one row). Their grid is
 * x over a plane's elements, y over planes, z over rows (each loops where
 * the grid's 65535 limits stop), so that a thread finds its row, channel
 * and tenant from blockIdx alone: no 64-bit division per element, which
 * the GPU emulates in dozens of instructions and which made these kernels
 * compute-bound. Inside a plane, positions are 32-bit (conv_plan_make
 * keeps planes below 2^31 elements). */

static void plane_launch(int64_t rows, int64_t planes, int64_t inner, dim3 *grid, dim3 *block)
{
    /* Small planes (7x7) take one or two warps a block, not eight idle ones. */
    int64_t threads = inner >= THREADS ? THREADS : (inner + 31) / 32 * 32;
    if (threads < 32) threads = 32;
    int64_t gx = (inner + threads - 1) / threads;
    *block = dim3((unsigned)threads);
    *grid = dim3((unsigned)CV_MAX(1, CV_MIN(gx, 65535)), (unsigned)CV_MAX(1, CV_MIN(planes, 65535)),
                 (unsigned)CV_MAX(1, CV_MIN(rows, 65535)));
}

/* Columns of `rows` rows: col[((n*C + c)*KK + tap)*P + pixel], so that the
 * K x P matrix of (row n, group g) starts at ((n*C + g*C/G)*KK)*P. One
 * thread per (row, channel, pixel), writing that pixel's KK taps. */
template <typename TX, typename T>
static __global__ void im2col_kernel(const TX *__restrict__ x, T *__restrict__ col, int64_t rows,
                                     int64_t channels, conv_dims_t g)
{
    const int oh_n = (int)g.out[1], ow_n = (int)g.out[2];
    const int pixels = (int)(g.out[0] * g.out[1] * g.out[2]);
    const int64_t in_plane = g.in[0] * g.in[1] * g.in[2], kk = g.k[0] * g.k[1] * g.k[2];
    for (int64_t n = blockIdx.z; n < rows; n += gridDim.z)
        for (int64_t c = blockIdx.y; c < channels; c += gridDim.y) {
            int64_t nc = n * channels + c;
            const TX *__restrict__ xc = x + nc * in_plane;
            T *plane = col + nc * kk * pixels;
            for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < pixels; p += gridDim.x * blockDim.x) {
                int t = p / ow_n, ow = p - t * ow_n;
                int od = t / oh_n, oh = t - od * oh_n;
                T *dst = plane + p;
                for (int64_t kd = 0; kd < g.k[0]; kd++) {
                    int64_t id = od * g.s[0] + kd * g.d[0] - g.p[0];
                    bool din = id >= 0 && id < g.in[0];
                    for (int64_t kh = 0; kh < g.k[1]; kh++) {
                        int64_t ih = oh * g.s[1] + kh * g.d[1] - g.p[1];
                        bool hin = din && ih >= 0 && ih < g.in[1];
                        for (int64_t kw = 0; kw < g.k[2]; kw++) {
                            int64_t iw = ow * g.s[2] + kw * g.d[2] - g.p[2];
                            float v = hin && iw >= 0 && iw < g.in[2]
                                          ? to_float(__ldg(xc + (id * g.in[1] + ih) * g.in[2] + iw))
                                          : 0.0f;
                            *dst = from_float<T>(v);
                            dst += pixels;
                        }
                    }
                }
            }
        }
}

/* im2col_kernel for 2-D windows whose output rows are a multiple of PX
 * pixels wide (every plane of ResNet-50 and MobileNetV2 above 7x7): PX
 * adjacent pixels of one output row a thread, each tap's PX columns
 * written as one store, in 32-bit index arithmetic (the planes are within
 * 2^31 elements, conv_plan_make). The scalar kernel wrote 64 bytes per
 * warp access and took 2.8 of a ResNet-50 FP16 wave's 12.4 ms (`run.sh
 * trace`, docs/RESULTS.md ninth session).
 *
 * W3: windows 3 wide with stride and dilation 1 along the row (ResNet-50's
 * 3x3s on 56x56 and 28x28, MobileNetV2's on its large planes): a thread
 * loads each input row's PX + 2 values once and writes its three taps
 * from them, rather than 3 * PX loads; runs of 8 pixels (16-byte half
 * stores) where the rows allow. In the twelfth session's trace this
 * kernel wrote its columns at about 60% of the bandwidth (0.76 of a
 * ResNet-50 FP16 wave's 6.2 ms), issuing a load instruction per two bytes
 * it wrote. Taken only with CARAVEL_IM2COL=tuned (cv_cuda_t.im2col_tuned)
 * until measured. */
template <typename TX, typename T, int PX, bool W3>
static __global__ void im2col2d_kernel(const TX *__restrict__ x, T *__restrict__ col, int64_t rows,
                                       int64_t channels, conv_dims_t g)
{
    const int in_h = (int)g.in[1], in_w = (int)g.in[2], out_w = (int)g.out[2];
    const int kh_n = (int)g.k[1], kw_n = (int)g.k[2], sh = (int)g.s[1], sw = (int)g.s[2];
    const int dh = (int)g.d[1], dw = (int)g.d[2], ph = (int)g.p[1], pw = (int)g.p[2];
    const int packs = (int)(g.out[1] * g.out[2]) / PX; /* PX-pixel runs of a plane */
    const int64_t in_plane = (int64_t)in_h * in_w, kk = kh_n * kw_n;
    for (int64_t n = blockIdx.z; n < rows; n += gridDim.z)
        for (int64_t c = blockIdx.y; c < channels; c += gridDim.y) {
            int64_t nc = n * channels + c;
            const TX *__restrict__ xc = x + nc * in_plane;
            pack_t<PX, T> *plane = reinterpret_cast<pack_t<PX, T> *>(col + nc * kk * packs * PX);
            for (int q = blockIdx.x * blockDim.x + threadIdx.x; q < packs; q += gridDim.x * blockDim.x) {
                int p = q * PX, oh = p / out_w, ow = p - oh * out_w;
                pack_t<PX, T> *dst = plane + q;
                for (int kh = 0; kh < kh_n; kh++) {
                    int ih = oh * sh + kh * dh - ph;
                    bool hin = ih >= 0 && ih < in_h;
                    const TX *__restrict__ xr = xc + (int64_t)ih * in_w;
                    if constexpr (W3) {
                        T window[PX + 2];
#pragma unroll
                        for (int j = 0; j < PX + 2; j++) {
                            int iw = ow - pw + j;
                            window[j] = from_float<T>(hin && iw >= 0 && iw < in_w ? to_float(__ldg(xr + iw)) : 0.0f);
                        }
#pragma unroll
                        for (int kw = 0; kw < 3; kw++) {
                            pack_t<PX, T> v;
#pragma unroll
                            for (int j = 0; j < PX; j++) v.e[j] = window[j + kw];
                            *dst = v;
                            dst += packs;
                        }
                    } else {
                        for (int kw = 0; kw < kw_n; kw++) {
                            int iw0 = ow * sw + kw * dw - pw;
                            pack_t<PX, T> v;
#pragma unroll
                            for (int j = 0; j < PX; j++) {
                                int iw = iw0 + j * sw;
                                v.e[j] =
                                    from_float<T>(hin && iw >= 0 && iw < in_w ? to_float(__ldg(xr + iw)) : 0.0f);
                            }
                            *dst = v;
                            dst += packs;
                        }
                    }
                }
            }
        }
}

/* Columns K-contiguous for a channels_c GEMM of one group (conv_plan_t.
 * k_major): col[(n*P + pixel)*K + c*KK + tap], each row a P x K row-major
 * matrix, K = C*KK, 2-D. A block takes one row and `tile` channels: their
 * planes go to shared memory (read along the planes, coalesced), beside a
 * table of each of the tile's tile*KK columns (its plane's offset and its
 * tap's row and column shift, worked out once per block); then the
 * block's threads write (pixel, V columns) runs, V contiguous elements
 * of col a store. The first version walked the pixels one after another
 * with a tap a thread, scalar stores and a quarter of its threads idle on
 * 1x1s: 1.5 of a ResNet-50 FP16 wave's 7.5 ms (`run.sh trace`). V = 8
 * needs 8 | C and 8 | tile (conv_plan_make takes k_major only then) and
 * X and col aligned to V elements. Grid: x channel tiles, y rows (looping
 * past 65535). Shared memory: im2col_rows_smem.
 *
 * Which thread writes which run (PIXEL_MAJOR): the first mapping gave a
 * warp's lanes one pixel's runs after another, so that a warp's stores
 * were a few 64-byte pieces, but every lane then read other columns'
 * table entries and other planes (three table loads and one plane load an
 * element, from 32 places): shared memory, not DRAM, set its pace (about
 * a third of the bandwidth its bytes need, `run.sh trace`, twelfth
 * session). Pixel-major gives a warp's lanes consecutive pixels of one
 * run: the table loads are broadcasts and the plane loads consecutive
 * halves, and each lane stores V = 16 contiguous elements (a whole
 * 32-byte sector) where 16 divides the tile, 8 otherwise. The reads of X
 * are 8 elements wide either way (RV). Pixel-major only with
 * CARAVEL_IM2COL=tuned (cv_cuda_t.im2col_tuned) until measured. */
#define IM2COL_ROWS_THREADS 256
#define IM2COL_ROWS_TILE 32
#define IM2COL_ROWS_SMEM 32768      /* the tile's planes */
#define IM2COL_ROWS_COLUMNS 1024    /* tile * KK at most: a 12 KB table */
#define IM2COL_ROWS_BLOCKS 264      /* two blocks an H100 SM, as conv_split */
/* Bytes of the column table (three ints a column), rounded to 16 so that
 * the planes after it stay aligned. */
static __host__ __device__ size_t im2col_rows_table_bytes(int64_t columns)
{
    return (3 * sizeof(int) * (size_t)columns + 15) / 16 * 16;
}
static size_t im2col_rows_smem(int tile, int64_t kk, int64_t in_plane, size_t es)
{
    return im2col_rows_table_bytes(tile * kk) + (size_t)(tile * in_plane) * es;
}
#define IM2COL_ROWS_RV 8 /* elements of X a load */
template <typename TX, typename T, int V, bool PIXEL_MAJOR>
static __global__ void __launch_bounds__(IM2COL_ROWS_THREADS)
    im2col_rows_kernel(const TX *__restrict__ x, T *__restrict__ col, int64_t rows, int channels, int tile,
                       conv_dims_t g)
{
    extern __shared__ __align__(16) unsigned char im2col_smem[];
    const int in_h = (int)g.in[1], in_w = (int)g.in[2], in_plane = in_h * in_w;
    const int out_w = (int)g.out[2], pixels = (int)(g.out[1] * g.out[2]);
    const int kw_n = (int)g.k[2], kk = (int)(g.k[1] * g.k[2]), k = channels * kk;
    const int c0 = blockIdx.x * tile, ct = min(tile, channels - c0), width = ct * kk, runs = width / V;
    const int sh = (int)g.s[1], sw = (int)g.s[2];
    int *at = (int *)im2col_smem, *dh = at + tile * kk, *dw = dh + tile * kk;
    T *planes = (T *)(im2col_smem + im2col_rows_table_bytes(tile * kk));
    for (int j = threadIdx.x; j < width; j += IM2COL_ROWS_THREADS) {
        int c = j / kk, tap = j - c * kk, kh = tap / kw_n;
        at[j] = c * in_plane;
        dh[j] = kh * (int)g.d[1] - (int)g.p[1];
        dw[j] = (tap - kh * kw_n) * (int)g.d[2] - (int)g.p[2];
    }
    for (int64_t n = blockIdx.y; n < rows; n += gridDim.y) {
        const TX *__restrict__ xn = x + (n * channels + c0) * (int64_t)in_plane;
        /* ct * in_plane is a multiple of RV (8 | ct); unrolled, so that
         * a thread has several loads in flight */
#pragma unroll 4
        for (int i = threadIdx.x; i < ct * in_plane / IM2COL_ROWS_RV; i += IM2COL_ROWS_THREADS) {
            pack_t<IM2COL_ROWS_RV, TX> v = reinterpret_cast<const pack_t<IM2COL_ROWS_RV, TX> *>(xn)[i];
#pragma unroll
            for (int e = 0; e < IM2COL_ROWS_RV; e++)
                planes[i * IM2COL_ROWS_RV + e] = from_float<T>(to_float(v.e[e]));
        }
        __syncthreads(); /* also publishes the table, the first time */
        T *__restrict__ cn = col + n * (int64_t)pixels * k + (int64_t)c0 * kk;
        for (int r = threadIdx.x; r < pixels * runs; r += IM2COL_ROWS_THREADS) {
            int pixel, run;
            if (PIXEL_MAJOR) {
                run = r / pixels;
                pixel = r - run * pixels;
            } else {
                pixel = r / runs;
                run = r - pixel * runs;
            }
            int j0 = run * V;
            int oh = pixel / out_w, bh = oh * sh, bw = (pixel - oh * out_w) * sw;
            pack_t<V, T> out;
#pragma unroll
            for (int e = 0; e < V; e++) {
                int j = j0 + e, ih = bh + dh[j], iw = bw + dw[j];
                bool in = ih >= 0 && ih < in_h && iw >= 0 && iw < in_w;
                out.e[e] = in ? planes[at[j] + ih * in_w + iw] : from_float<T>(0.0f);
            }
            *reinterpret_cast<pack_t<V, T> *>(cn + (int64_t)pixel * k + j0) = out;
        }
        __syncthreads();
    }
}

template <typename T>
static __global__ void convert_kernel(const float *__restrict__ in, T *__restrict__ out, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = from_float<T>(in[i]);
}

/* The same, four elements a thread: one 16-byte load and one 8-byte store
 * (in 16-byte and out 8-byte aligned, n a multiple of 4), a quarter of the
 * instructions of a pass that only moves memory. */
template <typename T>
static __global__ void convert4_kernel(const float4 *__restrict__ in, uint2 *__restrict__ out, int64_t n4)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
        float4 v = in[i];
        union {
            T h[4];
            uint2 u;
        } packed;
        packed.h[0] = from_float<T>(v.x);
        packed.h[1] = from_float<T>(v.y);
        packed.h[2] = from_float<T>(v.z);
        packed.h[3] = from_float<T>(v.w);
        out[i] = packed.u;
    }
}

/* Depthwise 2-D conv (G == C == M): one thread per output element; row n
 * reads its tenant's weights wtab[n] and bias btab[n] (NULL: none), then
 * adds the fused residual (res, laid out as y, stored as res_act; NULL:
 * none). X and Y in FP32 or half (TX, TY), arithmetic in FP32. */
template <typename TX, typename TY>
static __global__ void depthwise_kernel(const TX *__restrict__ x, const float *const *__restrict__ wtab,
                                        const float *const *__restrict__ btab, const void *__restrict__ res,
                                        int res_act, TY *__restrict__ y, int64_t rows, int64_t channels,
                                        conv_dims_t g, bool clamp, float lo, float hi)
{
    const int ow_n = (int)g.out[2], ih_n = (int)g.in[1], iw_n = (int)g.in[2];
    const int kh_n = (int)g.k[1], kw_n = (int)g.k[2];
    const int sh = (int)g.s[1], sw = (int)g.s[2], dh = (int)g.d[1], dw = (int)g.d[2];
    const int ph = (int)g.p[1], pw = (int)g.p[2];
    const int out_plane = (int)(g.out[1] * g.out[2]);
    for (int64_t n = blockIdx.z; n < rows; n += gridDim.z) {
        const float *__restrict__ wn = wtab[n];
        const float *__restrict__ bn = btab ? btab[n] : NULL;
        for (int64_t c = blockIdx.y; c < channels; c += gridDim.y) {
            int64_t plane = n * channels + c;
            const TX *__restrict__ xc = x + plane * (int64_t)ih_n * iw_n;
            const float *__restrict__ w = wn + c * kh_n * kw_n;
            for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < out_plane; i += gridDim.x * blockDim.x) {
                int oh = i / ow_n, ow = i - oh * ow_n;
                float acc = 0.0f;
                for (int kh = 0; kh < kh_n; kh++) {
                    int ih = oh * sh + kh * dh - ph;
                    if (ih < 0 || ih >= ih_n) continue;
                    for (int kw = 0; kw < kw_n; kw++) {
                        int iw = ow * sw + kw * dw - pw;
                        if (iw < 0 || iw >= iw_n) continue;
                        acc += to_float(__ldg(xc + (int64_t)ih * iw_n + iw)) * __ldg(w + kh * kw_n + kw);
                    }
                }
                if (bn) acc += __ldg(bn + c);
                int64_t at = plane * out_plane + i;
                if (res) acc += load_act(res, res_act, at);
                if (clamp) acc = cv_clamp_f32(acc, lo, hi);
                y[at] = from_float<TY>(acc);
            }
        }
    }
}

/* Depthwise 3x3, stride S (1 or 2), dilation 1, any padding: the tiled
 * kernel (CARAVEL_DEPTHWISE=tiled). A thread computes DW_RUN consecutive
 * outputs of one output row, holding the input columns they share in
 * registers: for stride 1, 6 loads a kernel row for 4 outputs where the
 * direct kernel makes 12, and one index computation for the 4. Threads
 * are numbered over (channel, output row, run) of a row n, so blocks are
 * full whatever the plane (MobileNetV2's last planes are 7x7 and 14x14;
 * the direct kernel gives each plane its own block). Same epilogue as the
 * direct kernel: bias, the fused residual, the clamp. */
#define DW_RUN 4
template <int S, typename TX, typename TY>
static __global__ void depthwise3x3_kernel(const TX *__restrict__ x, const float *const *__restrict__ wtab,
                                           const float *const *__restrict__ btab, const void *__restrict__ res,
                                           int res_act, TY *__restrict__ y, int64_t rows, int channels, int ih_n,
                                           int iw_n, int oh_n, int ow_n, int ph, int pw, bool clamp, float lo,
                                           float hi)
{
    /* 32-bit indices within a row: depthwise_tiles checks they fit. */
    const int runs = (ow_n + DW_RUN - 1) / DW_RUN;
    const int per_channel = oh_n * runs;
    const int per_row = channels * per_channel;
    constexpr int width = (DW_RUN - 1) * S + 3; /* input columns a run reads */
    for (int64_t n = blockIdx.y; n < rows; n += gridDim.y) {
        const float *__restrict__ wn = wtab[n];
        const float *__restrict__ bn = btab ? btab[n] : NULL;
        for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < per_row; t += gridDim.x * blockDim.x) {
            const int c = t / per_channel;
            const int rest = t - c * per_channel;
            const int oh = rest / runs, ow0 = (rest - oh * runs) * DW_RUN;
            const int64_t plane = n * channels + c;
            const TX *__restrict__ xc = x + plane * (int64_t)ih_n * iw_n;
            const float *__restrict__ w = wn + c * 9;
            float acc[DW_RUN];
#pragma unroll
            for (int j = 0; j < DW_RUN; j++) acc[j] = 0.0f;
            const int iw0 = ow0 * S - pw;
#pragma unroll
            for (int kh = 0; kh < 3; kh++) {
                const int ih = oh * S + kh - ph;
                if (ih < 0 || ih >= ih_n) continue;
                const TX *__restrict__ xr = xc + (int64_t)ih * iw_n;
                float in[width];
#pragma unroll
                for (int q = 0; q < width; q++) {
                    const int iw = iw0 + q;
                    in[q] = iw >= 0 && iw < iw_n ? to_float(__ldg(xr + iw)) : 0.0f;
                }
                const float w0 = __ldg(w + kh * 3), w1 = __ldg(w + kh * 3 + 1), w2 = __ldg(w + kh * 3 + 2);
#pragma unroll
                for (int j = 0; j < DW_RUN; j++) acc[j] += in[j * S] * w0 + in[j * S + 1] * w1 + in[j * S + 2] * w2;
            }
            const float b = bn ? __ldg(bn + c) : 0.0f;
            const int64_t at = (plane * oh_n + oh) * (int64_t)ow_n + ow0;
#pragma unroll
            for (int j = 0; j < DW_RUN; j++) {
                if (ow0 + j >= ow_n) break;
                float v = acc[j] + b;
                if (res) v += load_act(res, res_act, at + j);
                if (clamp) v = cv_clamp_f32(v, lo, hi);
                y[at + j] = from_float<TY>(v);
            }
        }
    }
}

/* Whether the tiled depthwise kernel takes this geometry: 3x3, stride 1
 * or 2 (both ways alike), dilation 1, a row's threads numbered in 32 bits. */
static bool depthwise_tiles(const conv_dims_t *d, int64_t channels)
{
    int64_t per_row = channels * d->out[1] * ((d->out[2] + DW_RUN - 1) / DW_RUN);
    return d->k[1] == 3 && d->k[2] == 3 && d->d[1] == 1 && d->d[2] == 1 && d->s[1] == d->s[2] &&
           (d->s[1] == 1 || d->s[1] == 2) && per_row <= INT32_MAX - 2 * 65535 * (int64_t)THREADS;
}

/* A 1x1 convolution (stride 1, no padding, one group) with its epilogue
 * fused: for row n, Y_n[M, P] = W_n[M, K] X_n[K, P], then + bias[m],
 * + the fused residual, then the clamp, written once. A block computes a
 * 64 x 64 tile of Y_n from 16-deep slabs of W_n and X_n staged in shared
 * memory; a thread owns 4 x 4 outputs strided by 16 (rows tm + 16i,
 * pixels tp + 16j), so that its shared-memory reads are conflict-free and
 * its stores coalesce. Where K is small (MobileNetV2's expansions,
 * ResNet's first stages) the layer is memory-bound, and the unfused path
 * spends as much on its separate epilogue pass as on the GEMM. */
#define PW_TILE 64
#define PW_SLAB 16
static __global__ void __launch_bounds__(256)
    pointwise_conv_kernel(const float *__restrict__ x, const float *const *__restrict__ wtab,
                          const float *const *__restrict__ btab, const float *__restrict__ res,
                          float *__restrict__ y, int64_t rows, int m_n, int k_n, int pixels, bool clamp, float lo,
                          float hi)
{
    __shared__ float ws[PW_SLAB][PW_TILE + 1]; /* ws[k][m] */
    __shared__ float xs[PW_SLAB][PW_TILE];     /* xs[k][p] */
    const int tp = threadIdx.x & 15, tm = threadIdx.x >> 4;
    const int p0 = blockIdx.x * PW_TILE, m0 = blockIdx.y * PW_TILE;
    for (int64_t n = blockIdx.z; n < rows; n += gridDim.z) {
        const float *__restrict__ wn = wtab[n];
        const float *__restrict__ xn = x + n * (int64_t)k_n * pixels;
        float acc[4][4];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
        for (int k0 = 0; k0 < k_n; k0 += PW_SLAB) {
            __syncthreads(); /* the previous slab's reads are done */
#pragma unroll
            for (int e = threadIdx.x; e < PW_SLAB * PW_TILE; e += 256) {
                int kk = e & (PW_SLAB - 1), mm = e >> 4; /* 16 consecutive k of one W row */
                int m = m0 + mm, k = k0 + kk;
                ws[kk][mm] = m < m_n && k < k_n ? __ldg(wn + (int64_t)m * k_n + k) : 0.0f;
                int pp = e & (PW_TILE - 1), kx = e >> 6; /* 64 consecutive pixels of one X row */
                int px = p0 + pp, kr = k0 + kx;
                xs[kx][pp] = px < pixels && kr < k_n ? __ldg(xn + (int64_t)kr * pixels + px) : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < PW_SLAB; kk++) {
                float a[4], b[4];
#pragma unroll
                for (int i = 0; i < 4; i++) a[i] = ws[kk][tm + 16 * i];
#pragma unroll
                for (int j = 0; j < 4; j++) b[j] = xs[kk][tp + 16 * j];
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
            }
        }
        const float *__restrict__ bn = btab ? btab[n] : NULL;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int m = m0 + tm + 16 * i;
            if (m >= m_n) continue;
            float bias = bn ? __ldg(bn + m) : 0.0f;
            int64_t row = (n * m_n + m) * (int64_t)pixels;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                int px = p0 + tp + 16 * j;
                if (px >= pixels) continue;
                float v = acc[i][j] + bias;
                if (res) v += res[row + px];
                if (clamp) v = cv_clamp_f32(v, lo, hi);
                y[row + px] = v;
            }
        }
    }
}

/* The same fused 1x1 convolution for an FP16/BF16 wave whose X is kept in
 * half (act_of): Y_n[M, P] = W_n[M, K] X_n[K, P] on the tensor cores
 * (WMMA 16x16x16, FP32 accumulation), then bias, the fused residual and
 * the clamp in FP32, Y written once as TY. A block of four warps computes
 * a 64 x 64 tile of Y_n, each warp 32 x 32, from 32-deep slabs of W_n
 * (its tenant's half copy) and X_n staged in shared memory; the
 * accumulators go through shared memory so that the epilogue's loads and
 * stores coalesce along pixels. Without it, such a step is cuBLAS's GEMM
 * writing Y and a second pass reading and writing it again. */
#define PWH_TILE 64
#define PWH_SLAB 32
#define PWH_THREADS 128
template <typename T, typename TY>
static __global__ void __launch_bounds__(PWH_THREADS)
    pointwise_half_kernel(const T *__restrict__ x, const T *const *__restrict__ wtab,
                          const float *const *__restrict__ btab, const void *__restrict__ res, int res_act,
                          TY *__restrict__ y, int64_t rows, int m_n, int k_n, int pixels, bool clamp, float lo,
                          float hi)
{
    using namespace nvcuda;
    /* Raw storage: the half types have constructors, which __shared__
     * arrays may not run. Leading dimensions are multiples of 8 halves
     * (4 floats) and every fragment's start of 32 bytes, as WMMA asks. */
    constexpr int ldw = PWH_SLAB + 8, ldx = PWH_TILE + 8, ldc = PWH_TILE + 4;
    __shared__ __align__(32) unsigned short ws_raw[PWH_TILE * ldw]; /* W slab [m][k] */
    __shared__ __align__(32) unsigned short xs_raw[PWH_SLAB * ldx]; /* X slab [k][p] */
    __shared__ __align__(32) float cs[PWH_TILE * ldc];              /* the tile [m][p] */
    T *ws = reinterpret_cast<T *>(ws_raw), *xs = reinterpret_cast<T *>(xs_raw);
    const int warp = threadIdx.x >> 5, wm = warp >> 1, wp = warp & 1;
    const int p0 = blockIdx.x * PWH_TILE, m0 = blockIdx.y * PWH_TILE;
    const T zero = from_float<T>(0.0f);
    for (int64_t n = blockIdx.z; n < rows; n += gridDim.z) {
        const T *__restrict__ wn = wtab[n];
        const T *__restrict__ xn = x + n * (int64_t)k_n * pixels;
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
        for (int i = 0; i < 2; i++)
#pragma unroll
            for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
        for (int k0 = 0; k0 < k_n; k0 += PWH_SLAB) {
            __syncthreads(); /* the previous slab's fragments are loaded */
            for (int e = threadIdx.x; e < PWH_TILE * PWH_SLAB; e += PWH_THREADS) {
                int kk = e & (PWH_SLAB - 1), mm = e / PWH_SLAB; /* 32 consecutive k of one W row */
                int m = m0 + mm, k = k0 + kk;
                ws[mm * ldw + kk] = m < m_n && k < k_n ? wn[(int64_t)m * k_n + k] : zero;
                int pp = e & (PWH_TILE - 1), kx = e / PWH_TILE; /* 64 consecutive pixels of one X row */
                int px = p0 + pp, kr = k0 + kx;
                xs[kx * ldx + pp] = px < pixels && kr < k_n ? xn[(int64_t)kr * pixels + px] : zero;
            }
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < PWH_SLAB; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[2];
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b[2];
#pragma unroll
                for (int i = 0; i < 2; i++) wmma::load_matrix_sync(a[i], ws + (wm * 32 + i * 16) * ldw + kk, ldw);
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::load_matrix_sync(b[j], xs + kk * ldx + wp * 32 + j * 16, ldx);
#pragma unroll
                for (int i = 0; i < 2; i++)
#pragma unroll
                    for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
            }
        }
#pragma unroll
        for (int i = 0; i < 2; i++)
#pragma unroll
            for (int j = 0; j < 2; j++)
                wmma::store_matrix_sync(cs + (wm * 32 + i * 16) * ldc + wp * 32 + j * 16, acc[i][j], ldc,
                                        wmma::mem_row_major);
        __syncthreads();
        const float *__restrict__ bn = btab ? btab[n] : NULL;
        for (int e = threadIdx.x; e < PWH_TILE * PWH_TILE; e += PWH_THREADS) {
            int mm = e / PWH_TILE, pp = e & (PWH_TILE - 1);
            int m = m0 + mm, px = p0 + pp;
            if (m >= m_n || px >= pixels) continue;
            float v = cs[mm * ldc + pp] + (bn ? __ldg(bn + m) : 0.0f);
            int64_t at = (n * m_n + m) * (int64_t)pixels + px;
            if (res) v += load_act(res, res_act, at);
            if (clamp) v = cv_clamp_f32(v, lo, hi);
            y[at] = from_float<TY>(v);
        }
        __syncthreads(); /* cs is read before the next row writes it */
    }
}

/* y viewed as [rows, planes, inner]: y += beta * tab[r][p*sp + i*si]
 * (tab NULL: nothing added), then y += res (laid out as y; NULL: none),
 * then the clamp: the order of the unfused Conv, Add and Relu. Conv: rows = N, planes = M,
 * tab = per-row bias; Gemm: rows = Y's rows, planes = N, tab = the row of C
 * that broadcasts to that row. */
template <typename TY>
static __global__ void epilogue_kernel(TY *__restrict__ y, int64_t rows, int64_t planes, int64_t inner,
                                       const float *const *__restrict__ tab, int64_t sp, int64_t si,
                                       float beta, const void *__restrict__ res, int res_act, bool clamp,
                                       float lo, float hi)
{
    int64_t per_row = planes * inner, total = rows * per_row;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        float v = to_float(y[idx]);
        if (tab) {
            int64_t r = idx / per_row, rem = idx - r * per_row;
            int64_t p = rem / inner, i = rem - p * inner;
            v += beta * tab[r][p * sp + i * si];
        }
        if (res) v += load_act(res, res_act, idx);
        if (clamp) v = cv_clamp_f32(v, lo, hi);
        y[idx] = from_float<TY>(v);
    }
}

/* epilogue_kernel on a plane grid (plane_launch), for conv outputs whose
 * planes are at least a warp wide: row and plane from blockIdx, the
 * table's row pointer read once per plane. */
template <typename TY>
static __global__ void epilogue_planes_kernel(TY *__restrict__ y, int64_t rows, int64_t planes, int64_t inner,
                                              const float *const *__restrict__ tab, int64_t sp, int64_t si,
                                              float beta, const void *__restrict__ res, int res_act, bool clamp,
                                              float lo, float hi)
{
    for (int64_t r = blockIdx.z; r < rows; r += gridDim.z)
        for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
            int64_t base = (r * planes + p) * inner;
            const float *__restrict__ t = tab ? tab[r] + p * sp : NULL;
            for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < inner;
                 i += (int64_t)gridDim.x * blockDim.x) {
                float v = to_float(y[base + i]);
                if (t) v += beta * __ldg(t + i * si);
                if (res) v += load_act(res, res_act, base + i);
                if (clamp) v = cv_clamp_f32(v, lo, hi);
                y[base + i] = from_float<TY>(v);
            }
        }
}

/* epilogue_planes_kernel for one table entry per plane (si = 0: a Conv's
 * bias), V consecutive elements a thread: planes of a multiple of V
 * elements, y and res aligned to V elements (launch_act_epilogue checks),
 * so that a warp moves 512 contiguous bytes of half Y per access instead
 * of 64. The scalar kernel ran at a third of the H100's bandwidth and
 * was the largest single kernel of a ResNet-50 FP16 wave (3.2 of 12.4 ms,
 * `run.sh trace`, docs/RESULTS.md ninth session). TR: the residual's
 * type (ignored when res is NULL); I: the index type, 32-bit where the
 * vectors fit. */
template <typename TY, typename TR, int V, typename I>
static __global__ void epilogue_vec_kernel(TY *__restrict__ y, I vectors, I planes, I inner_v,
                                           const float *const *__restrict__ tab, int64_t sp, float beta,
                                           const TR *__restrict__ res, bool clamp, float lo, float hi)
{
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < vectors; i += (I)gridDim.x * blockDim.x) {
        float add = 0.0f;
        if (tab) {
            I plane = i / inner_v, r = plane / planes;
            add = beta * __ldg(tab[r] + (plane - r * planes) * sp);
        }
        pack_t<V, TY> out = reinterpret_cast<const pack_t<V, TY> *>(y)[i];
        pack_t<V, TR> rv;
        if (res) rv = reinterpret_cast<const pack_t<V, TR> *>(res)[i];
#pragma unroll
        for (int j = 0; j < V; j++) {
            float v = to_float(out.e[j]) + add;
            if (res) v += to_float(rv.e[j]);
            if (clamp) v = cv_clamp_f32(v, lo, hi);
            out.e[j] = from_float<TY>(v);
        }
        reinterpret_cast<pack_t<V, TY> *>(y)[i] = out;
    }
}

/* The epilogue of a conv whose K was split (conv_split): y = the sum of
 * the `split` partial products (each laid out as y, `part` floats apart)
 * + the row's bias tab[r][plane] (tab NULL: none) + res (NULL: none),
 * clamped; on a plane grid (plane_launch). */
template <typename TY>
static __global__ void split_epilogue_kernel(const float *__restrict__ parts, int64_t part, int split,
                                             TY *__restrict__ y, int64_t rows, int64_t planes, int64_t inner,
                                             const float *const *__restrict__ tab, const void *__restrict__ res,
                                             int res_act, bool clamp, float lo, float hi)
{
    for (int64_t r = blockIdx.z; r < rows; r += gridDim.z)
        for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
            int64_t base = (r * planes + p) * inner;
            float bias = tab ? __ldg(tab[r] + p) : 0.0f;
            for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < inner;
                 i += (int64_t)gridDim.x * blockDim.x) {
                float v = 0.0f;
                for (int s = 0; s < split; s++) v += __ldg(parts + s * part + base + i);
                v += bias;
                if (res) v += load_act(res, res_act, base + i);
                if (clamp) v = cv_clamp_f32(v, lo, hi);
                y[base + i] = from_float<TY>(v);
            }
        }
}

/* The epilogue of a conv whose GEMM wrote C channels innermost
 * (conv_plan_t.channels_c): c[((n*G + g)*P + pixel)*Mg + m], the sum of
 * `split` such parts `part` elements apart (split 1: C itself), moved into
 * Y's planes y[(n*M + g*Mg + m)*P + pixel] with the row's bias, the
 * residual (laid out as Y) and the clamp. A 32 x 32 tile of (pixel,
 * channel) goes through shared memory, so that C is read along channels
 * and Y written along pixels, both coalesced. Grid: x pixel tiles, y
 * channel tiles, z (row, group) pairs (looping past 65535). */
#define CT_TILE 32
/* Threads of a block along its second dimension, a constant so that the
 * loops over a tile's rows unroll: a thread's loads (C's tile, the
 * residual) are then all in flight at once rather than one by one. */
#define CT_ROWS 8
/* RES_C: the residual is laid out as C (channels innermost, one group:
 * conv_plan_t.res_nhwc below a Y in planes) and goes through shared
 * memory beside C's tile, read along channels too. */
template <typename TS, typename TY, bool RES_C>
static __global__ void __launch_bounds__(CT_TILE * CT_ROWS)
    channels_epilogue_kernel(const TS *__restrict__ c, int64_t part, int split, TY *__restrict__ y, int64_t pairs,
                             int groups, int mg, int pixels, const float *const *__restrict__ tab,
                             const void *__restrict__ res, int res_act, bool clamp, float lo, float hi)
{
    __shared__ float tile[CT_TILE][CT_TILE + 1];
    __shared__ float res_tile[RES_C ? CT_TILE : 1][CT_TILE + 1];
    const int p0 = blockIdx.x * CT_TILE, m0 = blockIdx.y * CT_TILE;
    for (int64_t ng = blockIdx.z; ng < pairs; ng += gridDim.z) {
        const TS *src = c + ng * (int64_t)pixels * mg;
        /* read: threadIdx.x along channels, rows of the tile along pixels */
#pragma unroll
        for (int ii = 0; ii < CT_TILE / CT_ROWS; ii++) {
            int i = threadIdx.y + ii * CT_ROWS;
            int pixel = p0 + i, m = m0 + threadIdx.x;
            float v = 0.0f;
            if (pixel < pixels && m < mg)
                for (int s = 0; s < split; s++) v += to_float(src[s * part + (int64_t)pixel * mg + m]);
            tile[i][threadIdx.x] = v;
            if (RES_C && res)
                res_tile[i][threadIdx.x] =
                    pixel < pixels && m < mg ? load_act(res, res_act, (ng * (int64_t)pixels + pixel) * mg + m) : 0.0f;
        }
        __syncthreads();
        /* write: threadIdx.x along pixels */
        int64_t n = ng / groups, g = ng - n * groups;
#pragma unroll
        for (int ii = 0; ii < CT_TILE / CT_ROWS; ii++) {
            int i = threadIdx.y + ii * CT_ROWS;
            int m = m0 + i, pixel = p0 + threadIdx.x;
            if (m < mg && pixel < pixels) {
                int64_t channel = g * mg + m, at = (n * groups * mg + channel) * pixels + pixel;
                float v = tile[threadIdx.x][i];
                if (tab) v += __ldg(tab[n] + channel);
                if (res) v += RES_C ? res_tile[threadIdx.x][i] : load_act(res, res_act, at);
                if (clamp) v = cv_clamp_f32(v, lo, hi);
                y[at] = from_float<TY>(v);
            }
        }
        __syncthreads();
    }
}

/* channels_epilogue_kernel two elements a thread, on 64 x 64 tiles: pairs
 * of channels read as one load, pairs of pixels written as one store (so
 * a warp moves 128 bytes of half C or Y per access, not 64), for an even
 * Mg and an even P (ResNet-50's 14x14 planes; its 7x7 ones keep the
 * scalar kernel). The scalar kernel ran at about a quarter of the H100's
 * bandwidth (1.0 of a ResNet-50 FP16 wave's 12.4 ms, `run.sh trace`).
 * TR: the residual's type (ignored without one). */
#define CT2_TILE 64
template <typename TS, typename TY, typename TR>
static __global__ void __launch_bounds__(CT_TILE * CT_ROWS)
    channels_epilogue2_kernel(const TS *__restrict__ c, int64_t part, int split, TY *__restrict__ y, int64_t pairs,
                              int groups, int mg, int pixels, const float *const *__restrict__ tab,
                              const TR *__restrict__ res, bool clamp, float lo, float hi)
{
    __shared__ float tile[CT2_TILE][CT2_TILE + 1];
    const int p0 = blockIdx.x * CT2_TILE, m0 = blockIdx.y * CT2_TILE, x2 = 2 * threadIdx.x;
    for (int64_t ng = blockIdx.z; ng < pairs; ng += gridDim.z) {
        const TS *src = c + ng * (int64_t)pixels * mg;
        /* read: channel pairs along threadIdx.x, tile rows along pixels */
#pragma unroll
        for (int ii = 0; ii < CT2_TILE / CT_ROWS; ii++) {
            int i = threadIdx.y + ii * CT_ROWS;
            int pixel = p0 + i, m = m0 + x2;
            float v0 = 0.0f, v1 = 0.0f;
            if (pixel < pixels && m < mg) /* m even, Mg even: m + 1 < Mg */
                for (int s = 0; s < split; s++) {
                    pack_t<2, TS> q = *reinterpret_cast<const pack_t<2, TS> *>(src + s * part + (int64_t)pixel * mg + m);
                    v0 += to_float(q.e[0]);
                    v1 += to_float(q.e[1]);
                }
            tile[i][x2] = v0;
            tile[i][x2 + 1] = v1;
        }
        __syncthreads();
        /* write: pixel pairs along threadIdx.x */
        int64_t n = ng / groups, g = ng - n * groups;
#pragma unroll
        for (int ii = 0; ii < CT2_TILE / CT_ROWS; ii++) {
            int i = threadIdx.y + ii * CT_ROWS;
            int m = m0 + i, pixel = p0 + x2;
            if (m < mg && pixel < pixels) {
                int64_t channel = g * mg + m, at = (n * groups * mg + channel) * pixels + pixel;
                float bias = tab ? __ldg(tab[n] + channel) : 0.0f;
                float v[2] = {tile[x2][i] + bias, tile[x2 + 1][i] + bias};
                pack_t<2, TY> out;
                pack_t<2, TR> rv;
                if (res) rv = *reinterpret_cast<const pack_t<2, TR> *>(res + at);
#pragma unroll
                for (int j = 0; j < 2; j++) {
                    if (res) v[j] += to_float(rv.e[j]);
                    if (clamp) v[j] = cv_clamp_f32(v[j], lo, hi);
                    out.e[j] = from_float<TY>(v[j]);
                }
                *reinterpret_cast<pack_t<2, TY> *>(y + at) = out;
            }
        }
        __syncthreads();
    }
}

/* The channels epilogue by spans (cv_cuda_t.channels_spans): a block takes
 * CS_CHANNELS channels of one (row, group) pair, whose planes are one
 * contiguous span of Y (channels * P elements, in that order), as well as
 * of the residual. It reads their C (CS_CHANNELS contiguous channels a
 * pixel, 8 a load) into shared memory laid out as the span, then writes
 * the span 8 elements a store, each with its channel's bias, the residual
 * (8 a load) and the clamp. The tiled kernels above cut P into tiles of
 * 32 or 64 pixels: on 7x7 planes (49) a second tile of 17 and a scalar
 * store an element, on 14x14 (196) a fourth tile of 4 and 4-byte stores,
 * 0.7 of a ResNet-50 FP16 wave's 6.2 ms at about a third of their bytes'
 * time (`run.sh trace`, twelfth session). Needs 8 | Mg (the last block
 * then takes 8 or 16 channels) and Y and the residual aligned to 8
 * elements; spans start on 8 elements since CS_CHANNELS * P and Mg * P
 * are multiples of 8. The same arithmetic in the same order as the tiled
 * kernels: the same bits. Grid: x channel blocks, y (row, group) pairs
 * (looping past 65535). */
#define CS_CHANNELS 16
#define CS_THREADS 128
#define CS_MAX_PIXELS CONV_CHANNELS_C_PIXELS
static size_t channels_span_smem(int64_t pixels) { return sizeof(float) * CS_CHANNELS * (size_t)pixels; }
template <typename TS, typename TY, typename TR>
static __global__ void __launch_bounds__(CS_THREADS)
    channels_span_kernel(const TS *__restrict__ c, int64_t part, int split, TY *__restrict__ y, int64_t pairs,
                         int groups, int mg, int pixels, const float *const *__restrict__ tab,
                         const TR *__restrict__ res, bool clamp, float lo, float hi)
{
    extern __shared__ __align__(16) float span[]; /* CS_CHANNELS * P floats: channels_span_smem */
    const int m0 = blockIdx.x * CS_CHANNELS, cb = min(CS_CHANNELS, mg - m0), packs = cb / 8;
    const int length = cb * pixels;
    for (int64_t ng = blockIdx.y; ng < pairs; ng += gridDim.y) {
        const TS *src = c + ng * (int64_t)pixels * mg + m0;
        /* read: 8 channels of one pixel a load; span[(m * P) + pixel] */
        for (int q = threadIdx.x; q < pixels * packs; q += CS_THREADS) {
            int pixel = q / packs, m = (q - pixel * packs) * 8;
            float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int s = 0; s < split; s++) {
                pack_t<8, TS> w = *reinterpret_cast<const pack_t<8, TS> *>(src + s * part + (int64_t)pixel * mg + m);
#pragma unroll
                for (int j = 0; j < 8; j++) v[j] += to_float(w.e[j]);
            }
#pragma unroll
            for (int j = 0; j < 8; j++) span[(m + j) * pixels + pixel] = v[j];
        }
        __syncthreads();
        /* write: 8 elements of the span a store */
        int64_t n = ng / groups, g = ng - n * groups;
        int64_t first = (n * groups * mg + g * mg + m0) * (int64_t)pixels; /* the span's first element in Y */
        const float *bias = tab ? tab[n] + g * mg + m0 : NULL;
        for (int e0 = threadIdx.x * 8; e0 < length; e0 += CS_THREADS * 8) {
            int m = e0 / pixels, pixel = e0 - m * pixels;
            float4 lo4 = *reinterpret_cast<const float4 *>(&span[e0]), hi4 = *reinterpret_cast<const float4 *>(&span[e0 + 4]);
            float v[8] = {lo4.x, lo4.y, lo4.z, lo4.w, hi4.x, hi4.y, hi4.z, hi4.w};
            pack_t<8, TR> rv;
            if (res) rv = *reinterpret_cast<const pack_t<8, TR> *>(res + first + e0);
            pack_t<8, TY> out;
#pragma unroll
            for (int j = 0; j < 8; j++) {
                v[j] += bias ? __ldg(bias + m) : 0.0f; /* as channels_epilogue2_kernel: the same bits */
                if (res) v[j] += to_float(rv.e[j]);
                if (clamp) v[j] = cv_clamp_f32(v[j], lo, hi);
                out.e[j] = from_float<TY>(v[j]);
                if (++pixel == pixels) {
                    pixel = 0;
                    m++;
                }
            }
            store_pack(y + first + e0, out);
        }
        __syncthreads();
    }
}

/* The epilogue of a conv whose Y is stored channels innermost
 * (conv_plan_t.y_nhwc): y[(n*P + pixel)*M + m] = the sum of `split` parts
 * of c, `part` elements apart, + the row's bias[m] + the residual (laid
 * out as Y), clamped; V elements along channels a thread. With one part c
 * is Y itself, which the GEMM wrote: the pass runs in place (no
 * __restrict__ on c and y; a thread reads its elements before writing
 * them). The additions of the channels epilogues in their order: the
 * bits of Y in planes, moved. V = 8 needs 8 | M (nhwc_of) and c, Y and
 * the residual aligned to 8 elements. Grid: a stride loop over vectors. */
template <typename TS, typename TY, typename TR, int V>
static __global__ void nhwc_epilogue_kernel(const TS *c, int64_t part, int split, TY *y, int64_t vectors,
                                            int channels, int64_t row_elements, const float *const *__restrict__ tab,
                                            const TR *__restrict__ res, bool clamp, float lo, float hi)
{
    for (int64_t q = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; q < vectors;
         q += (int64_t)gridDim.x * blockDim.x) {
        int64_t e = q * V, n = e / row_elements;
        int m = (int)(e % channels); /* V | M: the vector's elements are channels m.. of one pixel */
        float v[V];
#pragma unroll
        for (int j = 0; j < V; j++) v[j] = 0.0f;
        for (int s = 0; s < split; s++) {
            pack_t<V, TS> w = *reinterpret_cast<const pack_t<V, TS> *>(c + s * part + e);
#pragma unroll
            for (int j = 0; j < V; j++) v[j] += to_float(w.e[j]);
        }
        pack_t<V, TR> rv;
        if (res) rv = *reinterpret_cast<const pack_t<V, TR> *>(res + e);
        const float *bias = tab ? tab[n] + m : NULL;
        pack_t<V, TY> out;
#pragma unroll
        for (int j = 0; j < V; j++) {
            if (bias) v[j] += __ldg(bias + j);
            if (res) v[j] += to_float(rv.e[j]);
            if (clamp) v[j] = cv_clamp_f32(v[j], lo, hi);
            out.e[j] = from_float<TY>(v[j]);
        }
        *reinterpret_cast<pack_t<V, TY> *>(y + e) = out;
    }
}

/* Columns K-contiguous, as im2col_rows_kernel lays them out
 * (col[(n*P + pixel)*K + c*KK + tap], K = C*KK, 2-D), from X stored
 * channels innermost (x[(n*IP + in_pixel)*C + c]: conv_plan_t.x_nhwc). A
 * block takes one output pixel of one row and cb of its channels, whose
 * columns are one contiguous range of col (cb*KK elements from c0*KK on):
 * it stages the window's KK input pixels' cb channels in shared memory, 16
 * bytes a load along channels (zeros where the window leaves the plane),
 * then writes the range 16 bytes a store, each element taken from shared
 * memory at (tap, channel). Rows of the staged window are cb + PAD
 * elements apart, which spreads a warp's reads over the banks and keeps
 * them 16-byte aligned. Needs 8 | C and 8 | cb (nhwc_of; the launcher),
 * X and col 16-byte aligned; T half or float (16 bytes: 8 or 4
 * elements a load). Grid: x pixels * channel blocks, y rows (looping
 * past 65535). Shared memory: im2col_nhwc_smem. */
#define IM2COL_NHWC_THREADS 128
#define IM2COL_NHWC_SMEM 49152 /* the most a block may take without opting in */
#define IM2COL_NHWC_PAD 8
static size_t im2col_nhwc_smem(int64_t kk, int cb, size_t es) { return (size_t)kk * (size_t)(cb + IM2COL_NHWC_PAD) * es; }
template <typename T>
static __global__ void __launch_bounds__(IM2COL_NHWC_THREADS)
    im2col_nhwc_kernel(const T *__restrict__ x, T *__restrict__ col, int64_t rows, int channels, int cb,
                       int channel_blocks, conv_dims_t g)
{
    extern __shared__ __align__(16) unsigned char im2col_nhwc_window[];
    T *win = (T *)im2col_nhwc_window;
    const int in_h = (int)g.in[1], in_w = (int)g.in[2];
    const int out_w = (int)g.out[2], pixels = (int)(g.out[1] * g.out[2]);
    const int kw_n = (int)g.k[2], kk = (int)(g.k[1] * g.k[2]);
    const int64_t k = (int64_t)channels * kk, in_row = (int64_t)in_h * in_w * channels;
    const int pixel = (int)(blockIdx.x / channel_blocks), c0 = (int)(blockIdx.x - pixel * channel_blocks) * cb;
    constexpr int EV = 16 / sizeof(T); /* elements a 16-byte load */
    const int cn = min(cb, channels - c0), vectors = cn / EV, stride = cb + IM2COL_NHWC_PAD, length = cn * kk;
    const int oh = pixel / out_w, bh = oh * (int)g.s[1] - (int)g.p[1];
    const int bw = (pixel - oh * out_w) * (int)g.s[2] - (int)g.p[2];
    for (int64_t n = blockIdx.y; n < rows; n += gridDim.y) {
        const T *__restrict__ xn = x + n * in_row + c0;
        for (int i = threadIdx.x; i < kk * vectors; i += IM2COL_NHWC_THREADS) {
            int tap = i / vectors, v = i - tap * vectors, kh = tap / kw_n;
            int ih = bh + kh * (int)g.d[1], iw = bw + (tap - kh * kw_n) * (int)g.d[2];
            uint4 q = make_uint4(0, 0, 0, 0); /* all-zero bits: +0 in FP32, FP16 and BF16 */
            if (ih >= 0 && ih < in_h && iw >= 0 && iw < in_w)
                q = *reinterpret_cast<const uint4 *>(xn + ((int64_t)ih * in_w + iw) * channels + v * EV);
            *reinterpret_cast<uint4 *>(win + tap * stride + v * EV) = q;
        }
        __syncthreads();
        T *__restrict__ cr = col + (n * pixels + pixel) * k + (int64_t)c0 * kk;
        for (int j0 = threadIdx.x * 8; j0 < length; j0 += IM2COL_NHWC_THREADS * 8) {
            int c = j0 / kk, tap = j0 - c * kk;
            pack_t<8, T> out;
#pragma unroll
            for (int e = 0; e < 8; e++) {
                out.e[e] = win[tap * stride + c];
                if (++tap == kk) {
                    tap = 0;
                    c++;
                }
            }
            store_pack(cr + j0, out);
        }
        __syncthreads();
    }
}

/* ---- launchers (explicit stream) ---------------------------------------- */

/* im2col of X stored as x_act into columns of the GEMM's operand type. */
static void launch_im2col(cudaStream_t stream, cv_precision_t prec, act_t x_act, const void *x, void *col,
                          int64_t rows, int64_t channels, const conv_dims_t *g, bool first)
{
    dim3 grid, block;
    plane_launch(rows, channels, g->out[0] * g->out[1] * g->out[2], &grid, &block);
    act_t col_act = prec == CV_PRECISION_FP16 ? ACT_F16 : prec == CV_PRECISION_BF16 ? ACT_BF16 : ACT_F32;
    /* im2col2d_kernel where the output rows split into runs of 4 or 2, and
     * its W3 form for 3-wide windows of stride 1 (runs of 8 too) */
    /* (padding along depth would put the one depth tap outside X) */
    bool two_d = g->k[0] == 1 && g->in[0] == 1 && g->out[0] == 1 && g->p[0] == 0;
    bool w3 = !first && two_d && g->k[2] == 3 && g->s[2] == 1 && g->d[2] == 1;
    int px = !two_d                    ? 1
             : w3 && g->out[2] % 8 == 0 ? 8
             : g->out[2] % 4 == 0       ? 4
             : g->out[2] % 2 == 0       ? 2
                                        : 1;
    w3 = w3 && px >= 4;
    if (px > 1) plane_launch(rows, channels, g->out[1] * g->out[2] / px, &grid, &block);
    with_act(x_act, [&](auto tx) {
        using TX = decltype(tx);
        with_act(col_act, [&](auto tc) {
            using TC = decltype(tc);
            if (w3 && px == 8)
                im2col2d_kernel<TX, TC, 8, true><<<grid, block, 0, stream>>>((const TX *)x, (TC *)col, rows, channels, *g);
            else if (w3)
                im2col2d_kernel<TX, TC, 4, true><<<grid, block, 0, stream>>>((const TX *)x, (TC *)col, rows, channels, *g);
            else if (px == 4)
                im2col2d_kernel<TX, TC, 4, false>
                    <<<grid, block, 0, stream>>>((const TX *)x, (TC *)col, rows, channels, *g);
            else if (px == 2)
                im2col2d_kernel<TX, TC, 2, false>
                    <<<grid, block, 0, stream>>>((const TX *)x, (TC *)col, rows, channels, *g);
            else
                im2col_kernel<TX, TC><<<grid, block, 0, stream>>>((const TX *)x, (TC *)col, rows, channels, *g);
        });
    });
}

static void launch_convert(cudaStream_t stream, cv_precision_t prec, const float *in, void *out, int64_t n)
{
    if (n % 4 == 0 && (uintptr_t)in % 16 == 0 && (uintptr_t)out % 8 == 0) {
        if (prec == CV_PRECISION_FP16)
            convert4_kernel<__half><<<grid_for(n / 4), THREADS, 0, stream>>>((const float4 *)in, (uint2 *)out, n / 4);
        else
            convert4_kernel<__nv_bfloat16>
                <<<grid_for(n / 4), THREADS, 0, stream>>>((const float4 *)in, (uint2 *)out, n / 4);
        return;
    }
    if (prec == CV_PRECISION_FP16)
        convert_kernel<__half><<<grid_for(n), THREADS, 0, stream>>>(in, (__half *)out, n);
    else
        convert_kernel<__nv_bfloat16><<<grid_for(n), THREADS, 0, stream>>>(in, (__nv_bfloat16 *)out, n);
}

/* The epilogue of y stored as y_act (the residual res as res_act). */
static cv_status launch_act_epilogue(cv_cuda_t *cuda, act_t y_act, void *y, int64_t rows, int64_t planes,
                                     int64_t inner, const float *const *tab, int64_t sp, int64_t si, float beta,
                                     const void *res, act_t res_act, const clamp_t *c, cv_err_t *err)
{
    int64_t total = rows * planes * inner;
    if ((!tab && !res && !c->active) || total == 0) return CV_STATUS_OK;
    /* 16 bytes of Y a thread, 8 halves or 4 floats (epilogue_vec_kernel) */
    int vec = (int)(16 / act_size(y_act));
    size_t y_align = (size_t)vec * act_size(y_act), res_align = (size_t)vec * act_size(res_act);
    if (inner % vec == 0 && (!tab || si == 0) && (uintptr_t)y % y_align == 0 &&
        (!res || (uintptr_t)res % res_align == 0)) {
        int64_t vectors = total / vec;
        with_act(y_act, [&](auto ty) {
            using TY = decltype(ty);
            with_act(res ? res_act : y_act, [&](auto tr) {
                using TR = decltype(tr);
                auto launch = [&](auto index) {
                    using I = decltype(index);
                    epilogue_vec_kernel<TY, TR, 16 / sizeof(TY), I><<<grid_for(vectors), THREADS, 0, cuda->stream>>>(
                        (TY *)y, (I)vectors, (I)planes, (I)(inner / vec), tab, sp, beta, (const TR *)res, c->active,
                        c->lo, c->hi);
                };
                if (vectors < INT32_MAX && rows * planes < INT32_MAX) launch((uint32_t)0);
                else launch((int64_t)0);
            });
        });
        CV_CUDA_CHECK_LAUNCH(err);
        return CV_STATUS_OK;
    }
    with_act(y_act, [&](auto ty) {
        using TY = decltype(ty);
        if (inner >= 32) {
            dim3 grid, block;
            plane_launch(rows, planes, inner, &grid, &block);
            epilogue_planes_kernel<TY><<<grid, block, 0, cuda->stream>>>(
                (TY *)y, rows, planes, inner, tab, sp, si, beta, res, res_act, c->active, c->lo, c->hi);
        } else {
            epilogue_kernel<TY><<<grid_for(total), THREADS, 0, cuda->stream>>>(
                (TY *)y, rows, planes, inner, tab, sp, si, beta, res, res_act, c->active, c->lo, c->hi);
        }
    });
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

/* The epilogue of an FP32 output (Gemm, MatMul). */
static cv_status launch_epilogue(cv_cuda_t *cuda, float *y, int64_t rows, int64_t planes, int64_t inner,
                                 const float *const *tab, int64_t sp, int64_t si, float beta,
                                 const float *res, const clamp_t *c, cv_err_t *err)
{
    return launch_act_epilogue(cuda, ACT_F32, y, rows, planes, inner, tab, sp, si, beta, res, ACT_F32, c, err);
}

/* ---- Conv ----------------------------------------------------------------- */

typedef cv_conv_geometry_t conv_geom_t;

static void conv_geometry(const cv_node_t *node, const cv_tensor_t *x, const cv_tensor_t *w,
                          const cv_tensor_t *y, conv_geom_t *g)
{
    cv_conv_geometry(node, &x->shape, &w->shape, &y->shape, g);
}

/* Slice of every row of a tensor of `rows` rows (dim 0) in a wave of
 * `wave_rows`: rows of one wave row are contiguous. */
static void rows_to_slices(const cv_step_run_t *run, int64_t rows, int *slice_of_row)
{
    int64_t per_wave_row = rows / (run->plan->rows > 0 ? run->plan->rows : 1);
    for (int s = 0; s < run->nslices; s++) {
        int64_t r0 = run->slices[s].row0 * per_wave_row, r1 = r0 + run->slices[s].rows * per_wave_row;
        for (int64_t r = r0; r < r1 && r < rows; r++) slice_of_row[r] = s;
    }
}

/* Stages and sends the per-row tables of a kernel that reads each row's
 * tenant's W (input 1) and, with has_bias, B (input 2): rows W pointers,
 * then rows B pointers; *tables receives their device address. */
static cv_status row_tables_of(cv_cuda_t *cuda, const cv_step_run_t *run, int64_t rows, const int *slice_of_row,
                               bool has_bias, bool half_w, const float *const **tables, cv_err_t *err)
{
    size_t bytes = sizeof(void *) * (size_t)rows * (has_bias ? 2 : 1);
    void *host, *dev;
    cv_status st = cv_cuda_stage(cuda, bytes, &host, &dev, err);
    if (st != CV_STATUS_OK) return st;
    const void **wtab = (const void **)host, **btab = wtab + rows;
    for (int64_t n = 0; n < rows; n++) {
        put_input(cuda, run, &wtab[n], 1, slice_of_row[n], half_w, 0);
        if (has_bias) put_input(cuda, run, &btab[n], 2, slice_of_row[n], false, 0);
    }
    CV_CUDA_CHECK(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, cuda->stream), err);
    *tables = (const float *const *)dev;
    return CV_STATUS_OK;
}

/* X, Y and the residual of a Conv as the wave stores them. */
typedef struct conv_acts {
    act_t x, y, res;
} conv_acts_t;

/* row_tables_of with the FP32 weights. */
static cv_status row_tables(cv_cuda_t *cuda, const cv_step_run_t *run, int64_t rows, const int *slice_of_row,
                            bool has_bias, const float *const **tables, cv_err_t *err)
{
    return row_tables_of(cuda, run, rows, slice_of_row, has_bias, false, tables, err);
}

static cv_status conv_depthwise(cv_cuda_t *cuda, const cv_step_run_t *run, const conv_geom_t *g,
                                const int *slice_of_row, bool has_bias, const void *res, conv_acts_t acts,
                                const clamp_t *c, cv_err_t *err)
{
    const float *const *dw;
    cv_status st = row_tables(cuda, run, g->n, slice_of_row, has_bias, &dw, err);
    if (st != CV_STATUS_OK) return st;
    const void *x = run->inputs[0]->data;
    void *y = run->outputs[0]->data;
    const float *const *bias = has_bias ? dw + g->n : NULL;
    const conv_dims_t *d = &g->dims;
    bool tiled = cuda->depthwise_tiled && depthwise_tiles(d, g->c);
    with_act(acts.x, [&](auto tx) {
        using TX = decltype(tx);
        with_act(acts.y, [&](auto ty) {
            using TY = decltype(ty);
            if (tiled) {
                /* Threads over (channel, output row, run) of a row; rows in y. */
                int64_t per_row = g->c * d->out[1] * ((d->out[2] + DW_RUN - 1) / DW_RUN);
                int64_t gx = (per_row + THREADS - 1) / THREADS;
                dim3 grid((unsigned)CV_MAX(1, CV_MIN(gx, 65535)), (unsigned)CV_MAX(1, CV_MIN(g->n, 65535)));
                if (d->s[1] == 1)
                    depthwise3x3_kernel<1, TX, TY><<<grid, THREADS, 0, cuda->stream>>>(
                        (const TX *)x, dw, bias, res, acts.res, (TY *)y, g->n, (int)g->c, (int)d->in[1],
                        (int)d->in[2], (int)d->out[1], (int)d->out[2], (int)d->p[1], (int)d->p[2], c->active, c->lo,
                        c->hi);
                else
                    depthwise3x3_kernel<2, TX, TY><<<grid, THREADS, 0, cuda->stream>>>(
                        (const TX *)x, dw, bias, res, acts.res, (TY *)y, g->n, (int)g->c, (int)d->in[1],
                        (int)d->in[2], (int)d->out[1], (int)d->out[2], (int)d->p[1], (int)d->p[2], c->active, c->lo,
                        c->hi);
            } else {
                dim3 grid, block;
                plane_launch(g->n, g->c, d->out[1] * d->out[2], &grid, &block);
                depthwise_kernel<TX, TY><<<grid, block, 0, cuda->stream>>>((const TX *)x, dw, bias, res, acts.res,
                                                                           (TY *)y, g->n, g->c, g->dims, c->active,
                                                                           c->lo, c->hi);
            }
        });
    });
    CV_CUDA_CHECK_LAUNCH(err);
    if (tiled) cuda->depthwise_tiled_launches++;
    return CV_STATUS_OK;
}

/* How a Conv step runs, decided from its geometry and the wave before
 * anything is allocated or launched. */
typedef struct conv_plan {
    conv_geom_t g;
    clamp_t c;
    cv_precision_t prec;
    size_t es;                       /* bytes of one GEMM operand element */
    int64_t kk, k, pixels, in_plane; /* taps, GEMM inner dim (K), output pixels (P), input plane */
    bool has_bias;
    const void *res; /* the fused residual (laid out as Y), or NULL */
    conv_acts_t acts; /* how X, Y and the residual are stored */
    size_t xs, ys;    /* bytes of an element of X and of Y */
    bool depthwise; /* G == C == M, 2-D: the direct kernel, no GEMM */
    bool pointwise; /* 1x1, stride 1, unpadded: X laid out as its column matrix */
    bool direct;    /* pointwise with X stored as the GEMM's operands are (FP32/TF32, or a
                     * half activation of an FP16/BF16 wave): X is the column matrix itself */
    bool convert_w; /* FP16/BF16 with a W that is no tenant constant: converted into the workspace */
    bool strided;   /* every row has the same weights and G = 1: one strided-batched GEMM
                     * (never with a tenant's W in a wave the cache may capture:
                     * the call would take W's address as an argument) */
    const char *w0; /* slice 0's weights as the GEMM reads them (unless convert_w) */
    /* The GEMM writes C channels innermost, [N, G, P, Mg], into the
     * workspace (Y = W col with both of today's operands transposed by
     * cuBLAS), and channels_epilogue_kernel moves it into Y's planes: for
     * FP16/BF16 planes of at most CONV_CHANNELS_C_PIXELS pixels. With the
     * NCHW columns this GEMM runs level with the NCHW orientation's (C =
     * col^T W^T, P rows); the gain (3%) is the tiled epilogue's on small
     * planes. The orientation's own gain needs k_major (bench/conv_layouts.cu;
     * cv_cuda_t.conv_channels_c). */
    bool channels_c;
    /* With one group, 2-D and 8 | C: the columns K-contiguous too
     * (im2col_rows_kernel, 1x1s included), so that cuBLAS reads both
     * operands along K, the orientation conv_layouts measured 2.3x faster
     * on 7x7 planes (cv_cuda_t.conv_k_major, on by default); tile: its
     * channels per block. */
    bool k_major;
    int k_major_tile;
    /* Stored channels innermost ([N, H, W, C]: nhwc_of): X, read as its
     * K-contiguous columns (k_major: a 1x1 of stride 1 directly, else
     * im2col_nhwc_kernel); Y, written by the GEMM itself and finished in
     * place (nhwc_epilogue_kernel); the residual, laid out as Y, or as C
     * where Y is in planes (a stage's last block). Any of them makes the
     * conv channels_c, by pointer arrays (not strided), on cuBLAS. */
    bool x_nhwc, y_nhwc, res_nhwc;
    size_t c_bytes; /* that C, when K is not split (a split's parts are laid out alike) */
    /* FP16 with Y (and the residual) half, one group, its tenants' own W,
     * and either 16-byte rows (pixel columns) or k_major columns (small
     * planes, no split K): one CUTLASS kernel per chunk computes the GEMM
     * with the bias, the residual and the clamp fused in (cuda_cutlass.cu),
     * no epilogue pass; cv_cuda_t.conv_cutlass. Decided twice in
     * conv_plan_make: before channels_c (pixel columns), and again once
     * k_major is known. */
    bool fused;
    size_t fused_ws_bytes; /* its workspace */
    /* FP32 (3xTF32) or TF32 GEMMs in CUTLASS's kernels
     * (cuda_cutlass_fp32.cu; cv_cuda_t.fp32_3xtf32, tf32_cutlass): all_f32
     * every such GEMM, its K split or not; fused_f32 those of one group
     * and K whole, whose kernel adds the bias and the residual and
     * clamps: no epilogue pass. */
    bool all_f32, fused_f32;
    bool f32_aligned; /* Y, and X where direct, 16-byte aligned */
    int64_t chunk;  /* rows whose columns fit CONV_COL_BUDGET */
    int64_t split;  /* K cut into this many parts (pointer-array GEMMs of few tiles), 1: none */
    size_t parts_bytes; /* their FP32 partial products, summed by the epilogue */
    size_t col_row_bytes, w_bytes; /* columns of one row; converted W */
} conv_plan_t;

/* Parts to cut K into for the pointer-array GEMMs. cuBLAS's batched
 * kernels give each (problem, output tile) one thread block and do not
 * split K themselves, so a wave of few rows over a deep, narrow layer
 * (ResNet-50's last stage at R = 1: P = 49, M = 512, K = 4608, a handful
 * of tiles) leaves most of the GPU idle; its strided and plain calls
 * split K, which is what the one-slice waves lost when they moved to
 * pointer arrays (member-independent graphs). So: K/S-deep problems,
 * S a power of two dividing K, until the problems fill twice the SMs
 * in 64 x 64 tiles, each part at least 128 deep, at most 16 parts and
 * 64 MB of partial sums; the epilogue adds the parts. */
#define CONV_SPLIT_BLOCKS 264
#define CONV_SPLIT_MAX 16
#define CONV_SPLIT_MIN_DEPTH 128
#define CONV_SPLIT_BUDGET ((int64_t)64 << 20)
static int64_t conv_split(const conv_plan_t *p)
{
    const conv_geom_t *g = &p->g;
    int64_t tiles = g->n * g->group * ((p->pixels + 63) / 64) * ((g->mg + 63) / 64);
    int64_t split = 1;
    while (split < CONV_SPLIT_MAX && tiles * split < CONV_SPLIT_BLOCKS && p->k % (2 * split) == 0 &&
           p->k / (2 * split) >= CONV_SPLIT_MIN_DEPTH &&
           (int64_t)sizeof(float) * 2 * split * g->n * g->m * p->pixels <= CONV_SPLIT_BUDGET)
        split *= 2;
    return split;
}

/* conv_tables' device tables seen from problem `at` on: the columns, W
 * and Y per problem, then (read by the fused kernels, whose problem q is
 * row q) the bias and the residual per row. */
typedef struct conv_table_view {
    const void *const *b, *const *a;
    void *const *d;
    const float *const *bias;
    const void *const *res;
} conv_table_view_t;

static conv_table_view_t table_view(const conv_plan_t *p, const void *const *dev, int64_t at)
{
    int64_t problems = p->g.n * p->g.group * p->split;
    const void *const *rest = dev + 3 * problems;
    conv_table_view_t v = {dev + at, dev + problems + at, (void *const *)(dev + 2 * problems + at),
                           p->has_bias ? (const float *const *)rest + at : NULL,
                           p->res ? rest + (p->has_bias ? p->g.n : 0) + at : NULL};
    return v;
}

/* The fused kernel's GEMM for rows n0.. (`rows` of them) of plan p; dev:
 * conv_tables' tables (NULL: extents only, for the workspace's size). */
static cv_cutlass_conv_t fused_gemm(const cv_cuda_t *cuda, const conv_plan_t *p, const void *const *dev,
                                    int64_t n0, int64_t rows, void *workspace)
{
    const conv_geom_t *g = &p->g; /* one group, K whole */
    cv_cutlass_conv_t c;
    memset(&c, 0, sizeof c);
    c.device = cuda->device;
    c.prec = p->prec;
    c.m = g->m;
    c.n = p->pixels;
    c.k = p->k;
    c.batch = dev ? rows : g->n;
    c.b_k_major = p->k_major;
    c.cd_m_major = p->y_nhwc;
    c.lo = p->c.active ? p->c.lo : -FLT_MAX;
    c.hi = p->c.active ? p->c.hi : FLT_MAX;
    if (dev) {
        conv_table_view_t v = table_view(p, dev, n0);
        c.b = v.b;
        c.a = v.a;
        c.d = v.d;
        c.bias = v.bias;
        c.c = v.res;
        c.workspace = workspace;
        c.workspace_bytes = p->fused_ws_bytes;
    }
    return c;
}

/* The FP32/TF32 CUTLASS GEMM of `count` problems from problem p0 of plan p
 * (conv_plan_t.all_f32; Y_q (Mg x P) = W_q (Mg x K/S, rows K apart)
 * col_q (K/S x P), row-major: conv_tables' tables); dev: those tables
 * (NULL: extents only). */
static cv_cutlass_sgemm_t f32_gemm(const cv_cuda_t *cuda, const conv_plan_t *p, const void *const *dev, int64_t p0,
                                   int64_t count)
{
    const conv_geom_t *g = &p->g;
    int64_t depth = p->k / p->split;
    cv_cutlass_sgemm_t sg;
    memset(&sg, 0, sizeof sg);
    sg.device = cuda->device;
    sg.m = g->mg;
    sg.n = p->pixels;
    sg.k = depth;
    sg.batch = count;
    sg.lda = p->k;
    sg.ldb = sg.ldd = p->pixels;
    sg.tf32 = p->prec == CV_PRECISION_TF32;
    /* A's rows K apart, parts depth; B's (columns, or X when direct) and
     * D's P, from bases 16-byte aligned (tenants' weights and the
     * workspace always; X and Y as f32_aligned says) */
    sg.aligned = p->f32_aligned && p->pixels % 4 == 0 && depth % 4 == 0 && p->k % 4 == 0;
    sg.lo = p->c.active ? p->c.lo : -INFINITY;
    sg.hi = p->c.active ? p->c.hi : INFINITY;
    if (dev) {
        conv_table_view_t v = table_view(p, dev, p0);
        sg.b = v.b;
        sg.a = v.a;
        sg.d = v.d;
        sg.fused = p->fused_f32;
        if (p->fused_f32) { /* one group, K whole: problem q is row q */
            sg.bias = v.bias;
            sg.c = v.res;
        }
    }
    return sg;
}

/* Whether the fused kernel takes plan p (filled up to `strided`): see
 * conv_plan_t.fused. The rows of X (direct), Y and the residual are
 * 16-byte aligned when their bases are, since 8 | P. GEMMs of fewer than
 * 64 output channels or a K under 64 keep cuBLAS (unless
 * cv_cuda_t.fused_everywhere): they fill a fraction of the kernels' 64 x 128
 * x 64 tiles, and with them MobileNetV2's wave (all of whose fused
 * candidates are such) ran 2% slower on the H100 (docs/RESULTS.md, tenth
 * session). */
static bool conv_fused_fits(const cv_cuda_t *cuda, const cv_step_run_t *run, const conv_plan_t *p)
{
    const conv_geom_t *g = &p->g;
    if (!cuda->fused_everywhere && (g->m < 64 || p->k < 64)) return false;
    /* FP16 with its activations half, or TF32 (FP32 activations) writing
     * a Y channels innermost (the kernels that read K-contiguous columns:
     * Hopper's TF32 MMA reads no other) */
    act_t act = p->prec == CV_PRECISION_FP16 ? ACT_F16 : ACT_F32;
    bool prec_ok = p->prec == CV_PRECISION_FP16 || (p->prec == CV_PRECISION_TF32 && p->y_nhwc);
    if (!prec_ok || g->group != 1 || p->strided || p->convert_w || p->acts.y != act ||
        (p->res && p->acts.res != act) || (p->direct && p->acts.x != act))
        return false;
    /* K-contiguous columns (small planes): Y and the residual are
     * written element by element, at any alignment */
    if ((!p->k_major || p->y_nhwc) && ((uintptr_t)run->outputs[0]->data % 16 || (uintptr_t)p->res % 16 ||
                                       (p->direct && (uintptr_t)run->inputs[0]->data % 16)))
        return false; /* (channels innermost: TMA stores Y and loads the residual) */
    cv_cutlass_conv_t c = fused_gemm(cuda, p, NULL, 0, 0, NULL);
    return cv_cutlass_conv_fits(&c);
}

/* Fills *p for a step whose X and W are FP32 with 1 to 3 spatial dims
 * (indirect: cv_cuda_members_indirect). False when cuBLAS's int arguments cannot hold the GEMM's extents or a
 * plane has 2^31 elements or more (the step then runs on the host). */
static bool conv_plan_make(const cv_cuda_t *cuda, const cv_step_run_t *run, bool multi, bool indirect,
                           conv_acts_t acts, conv_plan_t *p)
{
    const cv_tensor_t *x = run->inputs[0], *w = run->inputs[1];
    const cv_tensor_t *b = run->ninputs > 2 ? run->inputs[2] : NULL;
    memset(p, 0, sizeof *p);
    conv_geometry(run->node, x, w, run->outputs[0], &p->g);
    p->c = cv_activation_clamp(run->node);
    const conv_geom_t *g = &p->g;
    const conv_dims_t *d = &g->dims;
    p->kk = d->k[0] * d->k[1] * d->k[2];
    p->k = g->cg * p->kk;
    p->pixels = d->out[0] * d->out[1] * d->out[2];
    p->in_plane = d->in[0] * d->in[1] * d->in[2];
    if (p->k > INT32_MAX || p->pixels > INT32_MAX || g->n * g->group > INT32_MAX) return false;
    p->has_bias = b && cv_shape_numel(&b->shape) > 0;
    const cv_tensor_t *r = run->node->fused_residual && run->ninputs > 3 ? run->inputs[3] : NULL;
    p->res = r ? r->data : NULL;
    p->acts = acts;
    p->xs = act_size(acts.x);
    p->ys = act_size(acts.y);
    p->depthwise = g->group == g->c && g->m == g->c && d->in[0] == 1 && d->k[0] == 1 && d->out[0] == 1 && d->p[0] == 0;
    /* The plane kernels index within a plane in 32 bits; the depthwise
     * kernel does its window arithmetic in 32 bits too. */
    if (d->in[0] * d->in[1] * d->in[2] > INT32_MAX) return false;
    for (int i = 1; i < 3 && p->depthwise; i++)
        if (d->k[i] > (1 << 20) || d->s[i] > (1 << 20) || d->d[i] > (1 << 20) || d->p[i] > (1 << 20))
            p->depthwise = false; /* the GEMM path takes it, in 64 bits */

    p->prec = run->precision;
    p->es = operand_size(p->prec);
    bool pointwise = true;
    for (int i = 0; i < 3; i++)
        pointwise = pointwise && d->k[i] == 1 && d->s[i] == 1 && d->p[i] == 0 && d->out[i] == d->in[i];
    /* FP16/BF16 need FP32 activations converted: a plain conversion does
     * it (conv_gemms), since the columns of a pointwise Conv are X; a half
     * activation is the operand as it is. */
    p->pointwise = pointwise;
    p->direct = pointwise && (!is_half(p->prec) || acts.x != ACT_F32);

    /* Weights as the GEMM reads them: slice s's own, half where asked. */
    bool half = is_half(p->prec), uniform = true;
    p->w0 = half ? slice_half_input(run, 1, 0) : slice_input(run, 1, 0);
    p->convert_w = half && !p->w0; /* W is no tenant constant */
    for (int s = 1; s < run->nslices && multi; s++)
        uniform = uniform && (half ? slice_half_input(run, 1, s) : slice_input(run, 1, s)) == p->w0;
    /* Weights, and half copies of any constant, are a tenant's memory. */
    bool member_w = !p->convert_w && (input_is_weight(run, 1) || (half && is_tenant_constant(run, 1)));
    p->strided = uniform && g->group == 1 && !(member_w && indirect);

    /* The layouts a wave chose for X, Y and the residual (never for
     * depthwise or grouped Convs: the plan marks none they touch). */
    p->x_nhwc = nhwc_of(cuda, run, run->node->inputs[0]);
    p->y_nhwc = nhwc_of(cuda, run, run->node->outputs[0]);
    p->res_nhwc = r && nhwc_of(cuda, run, run->node->inputs[3]);
    bool nhwc = p->x_nhwc || p->y_nhwc || p->res_nhwc;
    CV_ASSERT(!nhwc || (g->group == 1 && !p->depthwise));
    CV_ASSERT(!p->y_nhwc || !p->res || p->res_nhwc); /* the plan marks an output only with its residual */
    if (nhwc) {
        if (g->mg > (int64_t)65535 * CT_TILE) return false; /* the channels epilogue's grid */
        p->strided = false;
    }
    p->fused = !nhwc && cuda->conv_cutlass && conv_fused_fits(cuda, run, p);
    p->channels_c = nhwc || (cuda->conv_channels_c && !p->fused && is_half(p->prec) && !p->strided &&
                             p->pixels <= CONV_CHANNELS_C_PIXELS && g->mg <= (int64_t)65535 * CT_TILE);
    /* A 1x1 reading half X directly keeps doing so where the half
     * pointwise kernel was asked for (CARAVEL_POINTWISE=own:
     * conv_pointwise_fits), rather than copying X into tap columns. */
    bool own_pointwise = p->direct && cuda->pointwise_own_max_k == INT64_MAX;
    if (p->x_nhwc) {
        /* X is rows of K-contiguous pixels already: a 1x1 of stride 1
         * reads it as its columns (direct), any other window gathers
         * whole pixels into them. 8 | C (nhwc_of). */
        CV_ASSERT(g->c % 8 == 0 && d->in[0] == 1 && d->k[0] == 1 && d->out[0] == 1 && d->p[0] == 0);
        p->k_major = true;
    } else if (cuda->conv_k_major && p->channels_c && is_half(p->prec) && !own_pointwise && g->group == 1 &&
               d->in[0] == 1 && d->k[0] == 1 && d->out[0] == 1 && d->p[0] == 0) {
        /* im2col_rows_kernel: half columns of planes, no depth */
        int64_t tile = IM2COL_ROWS_SMEM / (p->in_plane * (int64_t)p->es);
        tile = CV_MIN(tile, CV_MIN((int64_t)IM2COL_ROWS_TILE, (int64_t)IM2COL_ROWS_COLUMNS / p->kk));
        tile = CV_MIN(tile, g->c) / 8 * 8; /* runs of 8 (im2col_rows_kernel): 8 | C, a tile of 8s */
        /* narrower tiles where few rows would leave SMs idle (R = 8) */
        while (!cuda->k_major_wide_tiles && tile > 8 && tile % 16 == 0 &&
               (g->c + tile - 1) / tile * g->n < IM2COL_ROWS_BLOCKS)
            tile /= 2;
        if (g->c % 8 == 0 && tile >= 8 && (g->c + tile - 1) / tile <= 65535 &&
            (uintptr_t)x->data % (8 * p->xs) == 0) {
            p->k_major = true;
            p->k_major_tile = (int)tile;
            p->direct = false;
        }
    }
    p->col_row_bytes = (size_t)(g->c * p->kk * p->pixels) * p->es;
    int64_t chunk = p->direct ? g->n : (int64_t)(CONV_COL_BUDGET / (p->col_row_bytes ? p->col_row_bytes : 1));
    p->chunk = CV_MAX(1, CV_MIN(chunk, g->n));
    p->split = p->strided || p->fused ? 1 : conv_split(p);
    /* The small planes' K-contiguous columns fused too (plane_epilogue in
     * cuda_cutlass.cu: no channels-innermost C, no epilogue pass), where
     * the wave has the tiles to fill the GPU without cutting K: a split
     * wave (few rows over a deep layer) keeps cuBLAS's split and the
     * epilogue that sums the parts. */
    /* A Y channels innermost (and its residual) is [P, M]: rows of M
     * halves, which TMA stores, so CUTLASS's kernel with the tree's
     * epilogue may write it (CARAVEL_NHWC_GEMM=cutlass), where K is whole;
     * not for an X so stored under a Y in planes (plane_epilogue would
     * read the residual as planes). */
    bool fusable = !nhwc ? cuda->cutlass_small_planes : p->y_nhwc && cuda->nhwc_cutlass;
    if (fusable && cuda->conv_cutlass && p->k_major && (p->split == 1 || cuda->fused_everywhere) &&
        conv_fused_fits(cuda, run, p)) {
        p->fused = true;
        p->channels_c = false;
        p->split = 1;
    }
    if ((p->prec == CV_PRECISION_FP32 && cuda->fp32_3xtf32) || (p->prec == CV_PRECISION_TF32 && cuda->tf32_cutlass)) {
        p->f32_aligned = (uintptr_t)run->outputs[0]->data % 16 == 0 && (!p->direct || (uintptr_t)x->data % 16 == 0);
        cv_cutlass_sgemm_t sg = f32_gemm(cuda, p, NULL, 0, g->n * g->group * p->split);
        /* (they write planes, from planes) */
        p->all_f32 = !p->strided && !nhwc && !p->fused && !p->channels_c && cv_cutlass_sgemm_fits(&sg);
        p->fused_f32 = p->all_f32 && p->split == 1 && g->group == 1 && acts.y == ACT_F32 &&
                       (!p->res || acts.res == ACT_F32);
    }
    p->parts_bytes = p->split > 1 ? align_up(sizeof(float) * (size_t)(p->split * g->n * g->m * p->pixels)) : 0;
    /* (a Y channels innermost is that C itself) */
    p->c_bytes = p->channels_c && !p->y_nhwc && p->split == 1 ? align_up(p->ys * (size_t)(g->n * g->m * p->pixels)) : 0;
    p->w_bytes = p->convert_w ? align_up((size_t)cv_shape_numel(&w->shape) * p->es) : 0;
    if (p->fused) {
        cv_cutlass_conv_t c = fused_gemm(cuda, p, NULL, 0, 0, NULL);
        p->fused_ws_bytes = align_up(cv_cutlass_conv_workspace(&c));
    }
    return true;
}

/* Stages and sends the pointer tables of the GEMMs (A, B, C per (row,
 * group) problem, unless strided) and of the bias (per row), in that
 * order; *dev receives their device address (NULL when there are none). */
static cv_status conv_tables(cv_cuda_t *cuda, const cv_step_run_t *run, const conv_plan_t *p,
                             const int *slice_of_row, const char *col, char *parts, char *c_channels, const char *w0,
                             void **dev, cv_err_t *err)
{
    const conv_geom_t *g = &p->g;
    int64_t problems = g->n * g->group * p->split;
    size_t table_bytes = p->strided ? 0 : 3 * sizeof(void *) * (size_t)problems;
    size_t bias_bytes = p->has_bias ? sizeof(void *) * (size_t)g->n : 0;
    size_t res_bytes = (p->fused || p->fused_f32) && p->res ? sizeof(void *) * (size_t)g->n : 0;
    void *host = NULL;
    *dev = NULL;
    if (table_bytes + bias_bytes + res_bytes == 0) return CV_STATUS_OK;
    cv_status st = cv_cuda_stage(cuda, table_bytes + bias_bytes + res_bytes, &host, dev, err);
    if (st != CV_STATUS_OK) return st;
    const char *xd = (const char *)run->inputs[0]->data;
    char *yd = (char *)run->outputs[0]->data;
    size_t es = p->es;
    const void **ta = (const void **)host, **tb = ta + (p->strided ? 0 : problems);
    void **tc = (void **)(tb + (p->strided ? 0 : problems));
    const void **tbias = (const void **)host + (p->strided ? 0 : 3 * problems);
    /* Problem q = ((n * G + g) * S + s): part s of K is rows s*K/S.. of
     * the column matrix (P x K column-major: + s*K/S*P elements) and of
     * W^T (K x Mg column-major: + s*K/S); its product goes to part s of
     * the partial sums, [S, N, M, P], when K is split, else to Y. */
    int64_t depth = p->k / p->split;
    for (int64_t n = 0; n < g->n && !p->strided; n++) {
        for (int64_t gi = 0; gi < g->group; gi++) {
            for (int64_t sp = 0; sp < p->split; sp++) {
                int64_t q = (n * g->group + gi) * p->split + sp;
                if (p->direct && p->x_nhwc) /* row n's P x C, K-contiguous: columns sp*depth.. */
                    ta[q] = xd + (size_t)(n * g->c * p->in_plane + sp * depth) * es;
                else if (p->direct)
                    ta[q] = xd + (size_t)((n * g->c + gi * g->cg) * p->in_plane + sp * depth * p->pixels) * es;
                else if (p->k_major) /* row n's P x K, columns sp*depth.. */
                    ta[q] = col + (size_t)((n % p->chunk) * p->pixels * p->k + sp * depth) * es;
                else
                    ta[q] = col + (size_t)(((n % p->chunk) * g->c + gi * g->cg) * p->kk * p->pixels +
                                           sp * depth * p->pixels) *
                                      es;
                size_t w_at = (size_t)(gi * g->mg * p->k + sp * depth) * es;
                if (p->convert_w) tb[q] = w0 + w_at;
                else put_input(cuda, run, &tb[q], 1, slice_of_row[n], is_half(p->prec), w_at);
                /* elements; channels_c: pair (n, g)'s P x Mg block, the same
                 * offset (a Y channels innermost is laid out as that C) */
                size_t y_at = (size_t)((n * g->m + gi * g->mg) * p->pixels);
                tc[q] = p->split > 1 ? parts + sizeof(float) * ((size_t)(sp * g->n * g->m * p->pixels) + y_at)
                                     : (p->channels_c && !p->y_nhwc ? c_channels : yd) + p->ys * y_at;
            }
        }
    }
    for (int64_t n = 0; n < g->n && p->has_bias; n++) put_input(cuda, run, &tbias[n], 2, slice_of_row[n], false, 0);
    /* the fused kernel's residual, row by row (laid out as Y) */
    const void **tres = tbias + (p->has_bias ? g->n : 0);
    for (int64_t n = 0; res_bytes && n < g->n; n++)
        tres[n] = (const char *)p->res + p->ys * (size_t)(n * g->m * p->pixels);
    CV_CUDA_CHECK(cudaMemcpyAsync(*dev, host, table_bytes + bias_bytes + res_bytes, cudaMemcpyHostToDevice,
                                  cuda->stream),
                  err);
    return CV_STATUS_OK;
}

/* im2col_nhwc_kernel for `rows` rows of X (from xn on) into col: as many
 * channels a block as its window's shared memory holds (ResNet-50's 3x3s:
 * all of them), 8 at least (the plan marks no value whose readers' windows
 * exceed 768 taps, so 8 always fit, of floats too). */
static cv_status launch_im2col_nhwc(cv_cuda_t *cuda, const conv_plan_t *p, const char *xn, char *col, int64_t rows,
                                    cv_err_t *err)
{
    const conv_geom_t *g = &p->g;
    int64_t cb = ((int64_t)IM2COL_NHWC_SMEM / ((int64_t)p->es * p->kk) - IM2COL_NHWC_PAD) / 8 * 8;
    cb = CV_MIN(cb, g->c);
    int64_t blocks_c = (g->c + cb - 1) / cb;
    CV_ASSERT(cb >= 8 && g->c % 8 == 0 && act_size(p->acts.x) == p->es && p->pixels * blocks_c <= INT32_MAX &&
              (uintptr_t)xn % 16 == 0 && (uintptr_t)col % 16 == 0);
    dim3 grid((unsigned)(p->pixels * blocks_c), (unsigned)CV_MIN(rows, 65535));
    size_t smem = im2col_nhwc_smem(p->kk, (int)cb, p->es);
    with_act(p->acts.x, [&](auto tx) { /* X as the columns are: es bytes (the smem's size) */
        using T = decltype(tx);
        im2col_nhwc_kernel<T><<<grid, IM2COL_NHWC_THREADS, smem, cuda->stream>>>(
            (const T *)xn, (T *)col, rows, (int)g->c, (int)cb, (int)blocks_c, g->dims);
    });
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

/* nhwc_epilogue_kernel for a Y stored channels innermost: the parts of a
 * split K summed, or Y itself finished in place; nothing to do without
 * a bias, a residual or a clamp on a K whole. */
static cv_status launch_nhwc_epilogue(cv_cuda_t *cuda, const cv_step_run_t *run, const conv_plan_t *p,
                                      const char *parts, const float *const *dev_bias, cv_err_t *err)
{
    const conv_geom_t *g = &p->g;
    if (p->split == 1 && !p->has_bias && !p->res && !p->c.active) return CV_STATUS_OK;
    void *y = run->outputs[0]->data;
    int64_t elements = g->n * g->m * p->pixels;
    bool wide = (uintptr_t)y % (8 * p->ys) == 0 && (!p->res || (uintptr_t)p->res % (8 * act_size(p->acts.res)) == 0);
    CV_ASSERT(g->m % 8 == 0 && g->group == 1 && (uintptr_t)parts % 32 == 0);
    with_act(p->acts.y, [&](auto ty) {
        using TY = decltype(ty);
        with_act(p->res ? p->acts.res : p->acts.y, [&](auto tr) {
            using TR = decltype(tr);
            auto launch = [&](auto v_tag) {
                constexpr int V = decltype(v_tag)::value;
                int64_t vectors = elements / V;
                if (p->split > 1)
                    nhwc_epilogue_kernel<float, TY, TR, V><<<grid_for(vectors), THREADS, 0, cuda->stream>>>(
                        (const float *)parts, elements, (int)p->split, (TY *)y, vectors, (int)g->m,
                        g->m * p->pixels, dev_bias, (const TR *)p->res, p->c.active, p->c.lo, p->c.hi);
                else
                    nhwc_epilogue_kernel<TY, TY, TR, V><<<grid_for(vectors), THREADS, 0, cuda->stream>>>(
                        (const TY *)y, 0, 1, (TY *)y, vectors, (int)g->m, g->m * p->pixels, dev_bias,
                        (const TR *)p->res, p->c.active, p->c.lo, p->c.hi);
            };
            if (wide) launch(std::integral_constant<int, 8>());
            else launch(std::integral_constant<int, 1>());
        });
    });
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

/* im2col (unless direct) and the GEMMs, chunk by chunk of rows:
 * Y^T (P x Mg, column-major) = col^T (P x K) * W_g^T (K x Mg). `dev`
 * holds conv_tables' GEMM tables unless strided. */
static cv_status conv_gemms(cv_cuda_t *cuda, const cv_step_run_t *run, const conv_plan_t *p, char *col,
                            const char *w0, const void *const *dev, void *fused_ws, cv_err_t *err)
{
    const conv_geom_t *g = &p->g;
    const char *xd = (const char *)run->inputs[0]->data;
    char *yd = (char *)run->outputs[0]->data;
    cudaDataType type = operand_type(p->prec);
    /* A half Y is written by the GEMM as its C (the operands' type), an
     * FP32 one as FP32; partial products of a split K stay FP32. */
    cudaDataType c_type = p->acts.y == ACT_F32 ? CUDA_R_32F : type;
    cublasComputeType_t compute = compute_type(p->prec);
    const float one = 1.0f, zero = 0.0f;
    int64_t problems = g->n * g->group * p->split, k = p->k, pixels = p->pixels, in_plane = p->in_plane;
    for (int64_t n0 = 0; n0 < g->n; n0 += p->chunk) {
        int64_t rows = CV_MIN(p->chunk, g->n - n0);
        if (p->x_nhwc) {
            if (!p->direct) {
                cv_status st = launch_im2col_nhwc(cuda, p, xd + p->xs * (size_t)(n0 * g->c * in_plane), col, rows, err);
                if (st != CV_STATUS_OK) return st;
            }
        } else if (p->k_major) {
            dim3 grid((unsigned)((g->c + p->k_major_tile - 1) / p->k_major_tile), (unsigned)CV_MIN(rows, 65535));
            size_t smem = im2col_rows_smem(p->k_major_tile, p->kk, in_plane, p->es);
            act_t col_act = p->prec == CV_PRECISION_FP16 ? ACT_F16 : ACT_BF16;
            const char *xn = xd + p->xs * (size_t)(n0 * g->c * in_plane);
            /* X aligned (conv_plan_make) and 8 | C; the workspace's parts are 256-byte aligned */
            CV_ASSERT((uintptr_t)xn % (8 * p->xs) == 0 && (uintptr_t)col % 16 == 0);
            with_act(p->acts.x, [&](auto tx) {
                using TX = decltype(tx);
                with_half_act(col_act, [&](auto tc) { /* columns are half (shared memory sized so) */
                    using TC = decltype(tc);
                    const TX *xt = (const TX *)xn;
                    TC *ct = (TC *)col;
                    int c = (int)g->c, tile = p->k_major_tile;
                    /* runs of 16 where 16 | every tile (then 16 | K: 32-byte aligned runs) */
                    if (!cuda->im2col_tuned)
                        im2col_rows_kernel<TX, TC, 8, false>
                            <<<grid, IM2COL_ROWS_THREADS, smem, cuda->stream>>>(xt, ct, rows, c, tile, g->dims);
                    else if (tile % 16 == 0 && c % 16 == 0)
                        im2col_rows_kernel<TX, TC, 16, true>
                            <<<grid, IM2COL_ROWS_THREADS, smem, cuda->stream>>>(xt, ct, rows, c, tile, g->dims);
                    else
                        im2col_rows_kernel<TX, TC, 8, true>
                            <<<grid, IM2COL_ROWS_THREADS, smem, cuda->stream>>>(xt, ct, rows, c, tile, g->dims);
                });
            });
            CV_CUDA_CHECK_LAUNCH(err);
        } else if (p->pointwise && !p->direct) {
            /* Half columns of a pointwise Conv of FP32 X: X converted
             * element by element (what im2col with one tap writes, without
             * its index arithmetic per element). */
            launch_convert(cuda->stream, p->prec, (const float *)xd + n0 * g->c * in_plane, col,
                           rows * g->c * in_plane);
            CV_CUDA_CHECK_LAUNCH(err);
        } else if (!p->direct) {
            launch_im2col(cuda->stream, p->prec, p->acts.x, xd + p->xs * (size_t)(n0 * g->c * in_plane), col, rows,
                          g->c, &g->dims, !cuda->im2col_tuned);
            CV_CUDA_CHECK_LAUNCH(err);
        }
        if (p->strided) {
            const void *a = p->direct ? (const void *)(xd + p->xs * (size_t)(n0 * g->c * in_plane)) : col;
            long long stride_a = p->direct ? (long long)(g->c * in_plane) : (long long)(k * pixels);
            CV_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
                                cuda->cublas, CUBLAS_OP_N, CUBLAS_OP_N, (int)pixels, (int)g->m, (int)k, &one, a,
                                type, (int)pixels, stride_a, w0, type, (int)k, 0, &zero,
                                yd + p->ys * (size_t)(n0 * g->m * pixels), c_type, (int)pixels,
                                (long long)(g->m * pixels), (int)rows, compute, CUBLAS_GEMM_DEFAULT),
                            err);
        } else {
            int64_t p0 = n0 * g->group * p->split, count = rows * g->group * p->split;
            if (p->fused) {
                cv_cutlass_conv_t c = fused_gemm(cuda, p, dev, n0, rows, fused_ws);
                cv_status st = cv_cutlass_conv_run(&c, cuda->stream, err);
                if (st != CV_STATUS_OK) return st;
                cuda->conv_fused_launches++;
                continue;
            }
            if (p->channels_c) {
                /* C (Mg x P, column-major: channels innermost) = W_g (W^T
                 * stored K x Mg, transposed) * col (K x P column-major when
                 * k_major, else today's P x K, transposed) */
                CV_CUBLAS_CHECK(cublasGemmBatchedEx(cuda->cublas, CUBLAS_OP_T, p->k_major ? CUBLAS_OP_N : CUBLAS_OP_T,
                                                    (int)g->mg, (int)pixels, (int)(k / p->split), &one,
                                                    dev + problems + p0, type, (int)k, dev + p0, type,
                                                    p->k_major ? (int)k : (int)pixels, &zero,
                                                    (void *const *)(dev + 2 * problems + p0),
                                                    p->split > 1 ? CUDA_R_32F : c_type, (int)g->mg, (int)count,
                                                    compute, CUBLAS_GEMM_DEFAULT),
                                err);
                continue;
            }
            if (p->all_f32) {
                cv_cutlass_sgemm_t sg = f32_gemm(cuda, p, dev, p0, count);
                cv_status st = cv_cutlass_sgemm_run(&sg, cuda->stream, err);
                if (st != CV_STATUS_OK) return st;
                if (sg.tf32) cuda->conv_tf32_cutlass_launches++;
                else cuda->conv_3xtf32_launches++;
                cuda->conv_fused_f32_launches += sg.fused;
                continue;
            }
            CV_CUBLAS_CHECK(cublasGemmBatchedEx(cuda->cublas, CUBLAS_OP_N, CUBLAS_OP_N, (int)pixels, (int)g->mg,
                                                (int)(k / p->split), &one, dev + p0, type, (int)pixels, dev + problems + p0,
                                                type, (int)k, &zero, (void *const *)(dev + 2 * problems + p0),
                                                p->split > 1 ? CUDA_R_32F : c_type, (int)pixels, (int)count, compute,
                                                CUBLAS_GEMM_DEFAULT),
                            err);
        }
    }
    return CV_STATUS_OK;
}

/* The GEMM path: workspace (columns, converted W), tables, W conversion,
 * GEMMs, then one epilogue for bias and activation. */
static cv_status conv_gemm(cv_cuda_t *cuda, const cv_step_run_t *run, const conv_plan_t *p,
                           const int *slice_of_row, cv_err_t *err)
{
    /* workspace: converted W, partial sums, C channels innermost, columns */
    size_t ws_bytes = p->fused_ws_bytes + p->w_bytes + p->parts_bytes + p->c_bytes +
                      (p->direct ? 0 : (size_t)p->chunk * p->col_row_bytes);
    char *ws = NULL;
    if (ws_bytes && !(ws = (char *)cv_cuda_workspace(cuda, ws_bytes)))
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of GPU memory for Conv columns (%zu bytes)", ws_bytes);
    char *fused_ws = ws, *wc = ws + p->fused_ws_bytes;
    char *parts = wc + p->w_bytes, *c_channels = parts + p->parts_bytes, *col = c_channels + p->c_bytes;
    const char *w0 = p->convert_w ? wc : p->w0; /* filled below, before the GEMMs read it */
    void *dev;
    cv_status st = conv_tables(cuda, run, p, slice_of_row, col, parts, c_channels, w0, &dev, err);
    if (st != CV_STATUS_OK) return st;
    if (p->convert_w) {
        const cv_tensor_t *w = run->inputs[1];
        launch_convert(cuda->stream, p->prec, (const float *)w->data, wc, cv_shape_numel(&w->shape));
        CV_CUDA_CHECK_LAUNCH(err);
    }
    if ((st = conv_gemms(cuda, run, p, col, w0, (const void *const *)dev, fused_ws, err)) != CV_STATUS_OK)
        return st;
    cuda->conv_nhwc_x_launches += p->x_nhwc;
    cuda->conv_nhwc_y_launches += p->y_nhwc;
    if (p->fused || p->fused_f32) return CV_STATUS_OK; /* the epilogue ran inside the GEMM */
    const conv_geom_t *g = &p->g;
    const float *const *dev_bias =
        p->has_bias ? (const float *const *)dev + (p->strided ? 0 : 3 * g->n * g->group * p->split) : NULL;
    if (p->y_nhwc) {
        cuda->conv_channels_c_launches++;
        cuda->conv_k_major_launches += p->k_major;
        return launch_nhwc_epilogue(cuda, run, p, parts, dev_bias, err);
    }
    /* Y in planes from a residual channels innermost: the tiled kernel
     * alone reads the residual as C (RES_C). */
    if (p->channels_c && !p->res_nhwc && cuda->channels_spans && g->mg % 8 == 0 && p->pixels <= CS_MAX_PIXELS &&
        (uintptr_t)run->outputs[0]->data % (8 * act_size(p->acts.y)) == 0 &&
        (!p->res || (uintptr_t)p->res % (8 * act_size(p->acts.res)) == 0)) {
        dim3 grid((unsigned)((g->mg + CS_CHANNELS - 1) / CS_CHANNELS), (unsigned)CV_MAX(1, CV_MIN(g->n * g->group, 65535)));
        size_t smem = channels_span_smem(p->pixels);
        with_act(p->acts.y, [&](auto ty) {
            using TY = decltype(ty);
            with_act(p->res ? p->acts.res : p->acts.y, [&](auto tr) {
                using TR = decltype(tr);
                if (p->split > 1)
                    channels_span_kernel<float, TY, TR><<<grid, CS_THREADS, smem, cuda->stream>>>(
                        (const float *)parts, g->n * g->m * p->pixels, (int)p->split, (TY *)run->outputs[0]->data,
                        g->n * g->group, (int)g->group, (int)g->mg, (int)p->pixels, dev_bias, (const TR *)p->res,
                        p->c.active, p->c.lo, p->c.hi);
                else
                    channels_span_kernel<TY, TY, TR><<<grid, CS_THREADS, smem, cuda->stream>>>(
                        (const TY *)c_channels, 0, 1, (TY *)run->outputs[0]->data, g->n * g->group, (int)g->group,
                        (int)g->mg, (int)p->pixels, dev_bias, (const TR *)p->res, p->c.active, p->c.lo, p->c.hi);
            });
        });
        CV_CUDA_CHECK_LAUNCH(err);
        cuda->conv_channels_c_launches++;
        cuda->conv_channels_span_launches++;
        cuda->conv_k_major_launches += p->k_major;
        return CV_STATUS_OK;
    }
    bool pairs = p->channels_c && !p->res_nhwc && g->mg % 2 == 0 && p->pixels % 2 == 0 &&
                 (!p->res || (uintptr_t)p->res % (2 * act_size(p->acts.res)) == 0);
    if (pairs) {
        dim3 grid((unsigned)((p->pixels + CT2_TILE - 1) / CT2_TILE), (unsigned)((g->mg + CT2_TILE - 1) / CT2_TILE),
                  (unsigned)CV_MAX(1, CV_MIN(g->n * g->group, 65535)));
        dim3 block(CT_TILE, CT_ROWS);
        with_act(p->acts.y, [&](auto ty) {
            using TY = decltype(ty);
            with_act(p->res ? p->acts.res : p->acts.y, [&](auto tr) {
                using TR = decltype(tr);
                if (p->split > 1)
                    channels_epilogue2_kernel<float, TY, TR><<<grid, block, 0, cuda->stream>>>(
                        (const float *)parts, g->n * g->m * p->pixels, (int)p->split, (TY *)run->outputs[0]->data,
                        g->n * g->group, (int)g->group, (int)g->mg, (int)p->pixels, dev_bias, (const TR *)p->res,
                        p->c.active, p->c.lo, p->c.hi);
                else
                    channels_epilogue2_kernel<TY, TY, TR><<<grid, block, 0, cuda->stream>>>(
                        (const TY *)c_channels, 0, 1, (TY *)run->outputs[0]->data, g->n * g->group, (int)g->group,
                        (int)g->mg, (int)p->pixels, dev_bias, (const TR *)p->res, p->c.active, p->c.lo, p->c.hi);
            });
        });
        CV_CUDA_CHECK_LAUNCH(err);
        cuda->conv_channels_c_launches++;
        cuda->conv_k_major_launches += p->k_major;
        return CV_STATUS_OK;
    }
    if (p->channels_c) {
        dim3 grid((unsigned)((p->pixels + CT_TILE - 1) / CT_TILE), (unsigned)((g->mg + CT_TILE - 1) / CT_TILE),
                  (unsigned)CV_MAX(1, CV_MIN(g->n * g->group, 65535)));
        dim3 block(CT_TILE, CT_ROWS);
        auto launch = [&](auto res_c_tag) {
            constexpr bool RES_C = decltype(res_c_tag)::value;
            with_act(p->acts.y, [&](auto ty) {
                using TY = decltype(ty);
                if (p->split > 1)
                    channels_epilogue_kernel<float, TY, RES_C><<<grid, block, 0, cuda->stream>>>(
                        (const float *)parts, g->n * g->m * p->pixels, (int)p->split, (TY *)run->outputs[0]->data,
                        g->n * g->group, (int)g->group, (int)g->mg, (int)p->pixels, dev_bias, p->res, p->acts.res,
                        p->c.active, p->c.lo, p->c.hi);
                else
                    channels_epilogue_kernel<TY, TY, RES_C><<<grid, block, 0, cuda->stream>>>(
                        (const TY *)c_channels, 0, 1, (TY *)run->outputs[0]->data, g->n * g->group, (int)g->group,
                        (int)g->mg, (int)p->pixels, dev_bias, p->res, p->acts.res, p->c.active, p->c.lo, p->c.hi);
            });
        };
        if (p->res_nhwc) launch(std::true_type());
        else launch(std::false_type());
        CV_CUDA_CHECK_LAUNCH(err);
        cuda->conv_channels_c_launches++;
        cuda->conv_k_major_launches += p->k_major;
        return CV_STATUS_OK;
    }
    if (p->split > 1) {
        dim3 grid, block;
        plane_launch(g->n, g->m, p->pixels, &grid, &block);
        with_act(p->acts.y, [&](auto ty) {
            using TY = decltype(ty);
            split_epilogue_kernel<TY><<<grid, block, 0, cuda->stream>>>(
                (const float *)parts, g->n * g->m * p->pixels, (int)p->split, (TY *)run->outputs[0]->data, g->n,
                g->m, p->pixels, dev_bias, p->res, p->acts.res, p->c.active, p->c.lo, p->c.hi);
        });
        CV_CUDA_CHECK_LAUNCH(err);
        return CV_STATUS_OK;
    }
    return launch_act_epilogue(cuda, p->acts.y, run->outputs[0]->data, g->n, g->m, p->pixels, dev_bias, 1, 0,
                               1.0f, p->res, p->acts.res, &p->c, err);
}

/* Whether a fused pointwise kernel takes a step: FP32 (TF32 keeps
 * cuBLAS's tensor cores), 1x1 with one group, K within the bound chosen
 * by measurement (cv_cuda_t.pointwise_own_max_k), a wave of at least 8
 * rows (below, too few blocks: cuBLAS measured faster; forced by
 * CARAVEL_POINTWISE=own), and tiles within the grid's limits. FP16/BF16
 * with X kept in half and the tenant's half W (pointwise_half_kernel)
 * only when forced: on the H100 it measured no faster than cuBLAS and
 * the epilogue pass for MobileNetV2 (18168 against 18202 inf/s at R = 64)
 * and slower for ResNet-50 (4831 against 5150), docs/RESULTS.md, seventh
 * session. */
static bool conv_pointwise_fits(const cv_cuda_t *cuda, const conv_plan_t *p)
{
    const conv_geom_t *g = &p->g;
    bool half = is_half(p->prec) && p->acts.x != ACT_F32 && !p->convert_w &&
                cuda->pointwise_own_max_k == INT64_MAX;
    return p->direct && !p->x_nhwc && !p->y_nhwc && !p->res_nhwc && (p->prec == CV_PRECISION_FP32 || half) &&
           g->group == 1 &&
           p->k <= cuda->pointwise_own_max_k && (g->n >= 8 || cuda->pointwise_own_max_k == INT64_MAX) &&
           (g->m + PW_TILE - 1) / PW_TILE <= 65535 && (p->pixels + PW_TILE - 1) / PW_TILE <= 65535 &&
           g->m <= INT32_MAX && p->k <= INT32_MAX;
}

static cv_status conv_pointwise(cv_cuda_t *cuda, const cv_step_run_t *run, const conv_plan_t *p,
                                const int *slice_of_row, cv_err_t *err)
{
    const conv_geom_t *g = &p->g;
    const float *const *dw;
    bool half = is_half(p->prec);
    cv_status st = row_tables_of(cuda, run, g->n, slice_of_row, p->has_bias, half, &dw, err);
    if (st != CV_STATUS_OK) return st;
    dim3 grid((unsigned)((p->pixels + PW_TILE - 1) / PW_TILE), (unsigned)((g->m + PW_TILE - 1) / PW_TILE),
              (unsigned)CV_MAX(1, CV_MIN(g->n, 65535)));
    if (half) {
        /* X's type is the operands' (direct); W's table holds half copies. */
        auto launch = [&](auto tx) {
            using T = decltype(tx);
            with_act(p->acts.y, [&](auto ty) {
                using TY = decltype(ty);
                pointwise_half_kernel<T, TY><<<grid, PWH_THREADS, 0, cuda->stream>>>(
                    (const T *)run->inputs[0]->data, (const T *const *)dw, p->has_bias ? dw + g->n : NULL, p->res,
                    p->acts.res, (TY *)run->outputs[0]->data, g->n, (int)g->m, (int)p->k, (int)p->pixels,
                    p->c.active, p->c.lo, p->c.hi);
            });
        };
        if (p->acts.x == ACT_BF16) launch(__nv_bfloat16());
        else launch(__half());
        CV_CUDA_CHECK_LAUNCH(err);
        cuda->pointwise_half_launches++;
        return CV_STATUS_OK;
    }
    pointwise_conv_kernel<<<grid, 256, 0, cuda->stream>>>(
        (const float *)run->inputs[0]->data, dw, p->has_bias ? dw + g->n : NULL, (const float *)p->res,
        (float *)run->outputs[0]->data, g->n, (int)g->m, (int)p->k, (int)p->pixels, p->c.active, p->c.lo, p->c.hi);
    CV_CUDA_CHECK_LAUNCH(err);
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_conv(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    const cv_tensor_t *x = run->inputs[0], *w = run->inputs[1];
    bool multi = step_weighted(run) && run->nslices > 1;
    if (x->dtype != CV_DTYPE_FP32 || w->dtype != CV_DTYPE_FP32 || x->shape.ndim < 3 || x->shape.ndim > 5 ||
        (multi && !run->batched[0]))
        return cv_cuda_run_on_host(cuda, run, err);
    if (cv_shape_numel(&run->outputs[0]->shape) == 0) return CV_STATUS_OK;
    const cv_node_t *n = run->node;
    conv_acts_t acts = {act_of(cuda, run, n->inputs[0]), act_of(cuda, run, n->outputs[0]),
                        n->fused_residual && run->ninputs > 3 ? act_of(cuda, run, n->inputs[3]) : ACT_F32};
    conv_plan_t p;
    if (!conv_plan_make(cuda, run, multi, cv_cuda_members_indirect(cuda), acts, &p)) {
        /* The host reads and writes FP32 planes alone. The plan keeps half
         * (or channels innermost) only the activations of 2-D
         * convolutions, whose extents the device kernels take far beyond
         * any real model's. */
        if (acts.x != ACT_F32 || acts.y != ACT_F32 || acts.res != ACT_F32 || nhwc_of(cuda, run, n->inputs[0]) ||
            nhwc_of(cuda, run, n->outputs[0]) || (n->fused_residual && nhwc_of(cuda, run, n->inputs[3])))
            return cv_errorf(err, CV_STATUS_UNSUPPORTED,
                             "a Conv too large for the device's kernels reads or writes half or channels-innermost "
                             "activations");
        return cv_cuda_run_on_host(cuda, run, err);
    }
    int *slice_of_row = (int *)cv_calloc((size_t)p.g.n + 1, sizeof(int));
    if (!slice_of_row) return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for a Conv row table");
    if (multi) rows_to_slices(run, p.g.n, slice_of_row);
    cv_status st = p.depthwise ? conv_depthwise(cuda, run, &p.g, slice_of_row, p.has_bias, p.res, p.acts, &p.c, err)
                   : conv_pointwise_fits(cuda, &p) ? conv_pointwise(cuda, run, &p, slice_of_row, err)
                                                   : conv_gemm(cuda, run, &p, slice_of_row, err);
    cv_free(slice_of_row);
    return st;
}

/* ---- Gemm, MatMul: problems of rows ---------------------------------------- */

/* One problem: Y_p [m, n] = alpha * op(A_p) op(B_p), row-major; B_p is
 * slice `slice`'s (its tenant's when B is a weight). */
typedef struct row_gemm {
    int64_t m;
    const void *a, *b;
    float *y;
    int slice;
} row_gemm_t;

typedef struct row_gemm_shape {
    bool ta, tb;
    int64_t n, k, lda, ldb; /* lda, ldb: row lengths of A and B as stored */
    float alpha;
} row_gemm_shape_t;

static int compare_m(const void *pa, const void *pb)
{
    const row_gemm_t *a = (const row_gemm_t *)pa, *b = (const row_gemm_t *)pb;
    return a->m < b->m ? -1 : a->m > b->m;
}

/* Writes the pointer tables of problems (sorted by m) into host: A, B and
 * Y pointers, `np` each; a tenant's B (b_member) through put_input, as
 * input 1 (half: its FP16/BF16 copy). */
static void fill_row_tables(cv_cuda_t *cuda, const cv_step_run_t *run, const row_gemm_t *probs, int np,
                            bool b_member, bool half, const void **host)
{
    for (int p = 0; p < np; p++) {
        host[p] = probs[p].a;
        if (b_member) put_input(cuda, run, &host[np + p], 1, probs[p].slice, half, 0);
        else host[np + p] = probs[p].b;
        host[2 * np + p] = probs[p].y;
    }
}

/* Problems of several heights (slices of different row counts, as the
 * scheduler forms them) in ONE cublasGemmGroupedBatchedEx: a group per
 * distinct m, over the same device tables. CUBLAS_STATUS_NOT_SUPPORTED
 * (a type combination the grouped call lacks) returns false, and the
 * caller launches a batched call per height instead. */
#define MAX_GROUPS 64

static cv_status launch_grouped(cv_cuda_t *cuda, const row_gemm_t *probs, int np, const void *const *dev,
                                const row_gemm_shape_t *sh, cv_precision_t prec, bool *done, cv_err_t *err)
{
    cublasOperation_t op_b[MAX_GROUPS], op_a[MAX_GROUPS];
    int m[MAX_GROUPS], n[MAX_GROUPS], k[MAX_GROUPS], lda[MAX_GROUPS], ldb[MAX_GROUPS], ldc[MAX_GROUPS];
    int size[MAX_GROUPS];
    float alpha[MAX_GROUPS], beta[MAX_GROUPS];
    int first = 0, groups = 0;
    *done = false;
    while (first < np && probs[first].m == 0) first++; /* sorted: empty problems lead */
    for (int p0 = first; p0 < np;) {
        int p1 = p0 + 1;
        while (p1 < np && probs[p1].m == probs[p0].m) p1++;
        if (groups == MAX_GROUPS) return CV_STATUS_OK;
        op_b[groups] = sh->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
        op_a[groups] = sh->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
        m[groups] = (int)sh->n;
        n[groups] = (int)probs[p0].m;
        k[groups] = (int)sh->k;
        lda[groups] = (int)sh->ldb;
        ldb[groups] = (int)sh->lda;
        ldc[groups] = (int)sh->n;
        alpha[groups] = sh->alpha;
        beta[groups] = 0.0f;
        size[groups++] = p1 - p0;
        p0 = p1;
    }
    if (groups == 0) {
        *done = true;
        return CV_STATUS_OK;
    }
    cudaDataType type = operand_type(prec);
    cublasStatus_t bs = cublasGemmGroupedBatchedEx(cuda->cublas, op_b, op_a, m, n, k, alpha, dev + np + first, type,
                                                   lda, dev + first, type, ldb, beta,
                                                   (void *const *)(dev + 2 * np + first), CUDA_R_32F, ldc, groups,
                                                   size, compute_type(prec));
    if (bs == CUBLAS_STATUS_NOT_SUPPORTED) return CV_STATUS_OK;
    CV_CUBLAS_CHECK(bs, err);
    *done = true;
    return CV_STATUS_OK;
}

/* Launches the problems: one cublasGemmEx for a single problem without
 * device tables (dev NULL), one cublasGemmBatchedEx when all have the same
 * m, else one grouped call (launch_grouped) or, where that is not
 * supported, a batched call per distinct m, over the device tables.
 * Row-major Y = op(A) op(B) is column-major Y^T = op(B)^T op(A)^T. */
static cv_status launch_row_gemms(cv_cuda_t *cuda, const row_gemm_t *probs, int np, const void *const *dev,
                                  const row_gemm_shape_t *sh, cv_precision_t prec, cv_err_t *err)
{
    cudaDataType type = operand_type(prec);
    cublasComputeType_t compute = compute_type(prec);
    cublasOperation_t op_b = sh->tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = sh->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    const float zero = 0.0f;
    if (np == 1 && !dev) {
        CV_CUBLAS_CHECK(cublasGemmEx(cuda->cublas, op_b, op_a, (int)sh->n, (int)probs[0].m, (int)sh->k, &sh->alpha,
                                     probs[0].b, type, (int)sh->ldb, probs[0].a, type, (int)sh->lda, &zero,
                                     probs[0].y, CUDA_R_32F, (int)sh->n, compute, CUBLAS_GEMM_DEFAULT),
                        err);
        return CV_STATUS_OK;
    }
    if (probs[0].m != probs[np - 1].m) { /* sorted by m: several heights */
        bool done;
        cv_status st = launch_grouped(cuda, probs, np, dev, sh, prec, &done, err);
        if (st != CV_STATUS_OK || done) return st;
    }
    for (int p0 = 0; p0 < np;) {
        int p1 = p0 + 1;
        while (p1 < np && probs[p1].m == probs[p0].m) p1++;
        if (probs[p0].m > 0)
            CV_CUBLAS_CHECK(cublasGemmBatchedEx(cuda->cublas, op_b, op_a, (int)sh->n, (int)probs[p0].m, (int)sh->k,
                                                &sh->alpha, dev + np + p0, type, (int)sh->ldb, dev + p0, type,
                                                (int)sh->lda, &zero, (void *const *)(dev + 2 * np + p0),
                                                CUDA_R_32F, (int)sh->n, p1 - p0, compute, CUBLAS_GEMM_DEFAULT),
                            err);
        p0 = p1;
    }
    return CV_STATUS_OK;
}

/* Converts what a half-precision GEMM reads and is not converted yet (the
 * activations, a B that is no tenant constant) into the workspace. */
typedef struct half_operands {
    const char *a;      /* A converted, or NULL in FP32/TF32 */
    const char *b;      /* B converted when it is no tenant constant */
} half_operands_t;

static cv_status convert_operands(cv_cuda_t *cuda, const cv_step_run_t *run, bool convert_b, half_operands_t *h,
                                  cv_err_t *err)
{
    cv_precision_t prec = run->precision;
    memset(h, 0, sizeof(*h));
    if (!is_half(prec)) return CV_STATUS_OK;
    int64_t na = cv_shape_numel(&run->inputs[0]->shape), nb = convert_b ? cv_shape_numel(&run->inputs[1]->shape) : 0;
    size_t a_bytes = align_up((size_t)na * 2), b_bytes = align_up((size_t)nb * 2);
    char *ws = (char *)cv_cuda_workspace(cuda, a_bytes + b_bytes + 1);
    if (!ws)
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of GPU memory converting %s operands (%zu bytes)",
                         cv_op_name(run->node->op), a_bytes + b_bytes);
    launch_convert(cuda->stream, prec, (const float *)run->inputs[0]->data, ws, na);
    CV_CUDA_CHECK_LAUNCH(err);
    h->a = ws;
    if (convert_b) {
        launch_convert(cuda->stream, prec, (const float *)run->inputs[1]->data, ws + a_bytes, nb);
        CV_CUDA_CHECK_LAUNCH(err);
        h->b = ws + a_bytes;
    }
    return CV_STATUS_OK;
}

/* A weighted Gemm/MatMul over slices: a problem per run of slices that
 * read one B, their rows of A (rows_per_wave_row rows of A per wave row)
 * with that B. c_rows, when not NULL, receives the per-row table for the
 * epilogue (c_base(s) + ...).
 * Stages, copies and launches; *dev_epilogue points at the epilogue table
 * on the device. */
typedef struct epilogue_c {
    const cv_tensor_t *c;  /* Gemm's C, or NULL */
    int64_t cm, cn;        /* C as a [cm, cn] matrix broadcast to [rows, N] */
} epilogue_c_t;

static cv_status run_weighted_rows(cv_cuda_t *cuda, const cv_step_run_t *run, const row_gemm_shape_t *sh,
                                   int64_t a_rows, bool multi, const epilogue_c_t *ec,
                                   const float *const **dev_epilogue, cv_err_t *err)
{
    cv_precision_t prec = run->precision;
    size_t es = operand_size(prec);
    const char *b_half0 = is_half(prec) ? slice_half_input(run, 1, 0) : NULL;
    bool convert_b = is_half(prec) && !b_half0;
    half_operands_t h;
    cv_status st = convert_operands(cuda, run, convert_b, &h, err);
    if (st != CV_STATUS_OK) return st;

    int nsl = multi ? run->nslices : 1;
    int64_t per_wave_row = a_rows / (run->plan->rows > 0 ? run->plan->rows : 1);
    row_gemm_t probs_stack[64];
    int64_t starts_stack[64], heights_stack[64];
    bool heap = nsl > 64;
    row_gemm_t *probs = heap ? (row_gemm_t *)cv_malloc(sizeof(row_gemm_t) * (size_t)nsl) : probs_stack;
    int64_t *starts = heap ? (int64_t *)cv_malloc(2 * sizeof(int64_t) * (size_t)nsl) : starts_stack;
    int64_t *heights = heap ? (starts ? starts + nsl : NULL) : heights_stack;
    if (!probs || !starts) {
        if (heap) {
            cv_free(probs);
            cv_free(starts);
        }
        return cv_errorf(err, CV_STATUS_OUT_OF_MEMORY, "out of memory for GEMM problems");
    }
    const char *a_base = h.a ? h.a : (const char *)run->inputs[0]->data;
    float *y = (float *)run->outputs[0]->data;
    /* A problem per run of slices that read one B: tenants that share the
     * layer run it as one model at their rows (the weight store gives
     * them one copy, so one address), distinct ones a problem each. Which
     * slices go together is part of a captured wave's key (cuda_graph.cu,
     * cv_cuda_step_group_weight), so a replay groups alike. */
    int np = 0;
    for (int s = 0; s < nsl; s++) {
        int64_t r0 = multi ? run->slices[s].row0 * per_wave_row : 0;
        int64_t m = multi ? run->slices[s].rows * per_wave_row : a_rows;
        const void *b = h.b ? h.b : is_half(prec) ? slice_half_input(run, 1, s) : slice_input(run, 1, s);
        starts[s] = r0;
        heights[s] = m;
        row_gemm_t *last = np ? &probs[np - 1] : NULL;
        /* Two requests of one tenant stay two problems: grouping them
         * would make every wave with a tenant twice a shape of its own
         * for the graph cache, captured anew (grouping_of, cuda_graph.cu). */
        if (last && last->b == b && last->y + last->m * sh->n == y + r0 * sh->n &&
            !cv_cuda_same_tenant(&run->slices[s - 1], &run->slices[s])) {
            last->m += m;
            continue;
        }
        probs[np++] = (row_gemm_t){m, a_base + (size_t)(r0 * sh->lda) * es, b, y + r0 * sh->n, s};
    }

    /* Device tables of A, B and Y for several problems, and for one whose
     * B is a tenant's in a wave the cache may capture (cublasGemmEx would
     * take B's address as an argument). */
    bool b_member = !h.b && is_tenant_constant(run, 1);
    bool tables = np > 1 || (b_member && cv_cuda_members_indirect(cuda));
    /* The epilogue's table: for each row of Y, the row of C it adds. */
    size_t c_bytes = ec->c ? sizeof(void *) * (size_t)a_rows : 0;
    size_t t_bytes = tables ? 3 * sizeof(void *) * (size_t)np : 0;
    void *host = NULL, *dev = NULL;
    if (c_bytes + t_bytes) st = cv_cuda_stage(cuda, c_bytes + t_bytes, &host, &dev, err);
    if (st == CV_STATUS_OK && ec->c) {
        const void **crow = (const void **)((char *)host + t_bytes);
        bool c_per_slice = multi && input_is_weight(run, 2);
        for (int s = 0; s < nsl; s++)
            for (int64_t r = 0; r < heights[s]; r++) {
                int64_t rc = c_per_slice ? r : starts[s] + r;
                size_t at = sizeof(float) * (size_t)(ec->cm == 1 ? 0 : rc * ec->cn);
                put_input(cuda, run, &crow[starts[s] + r], 2, s, false, at);
            }
        *dev_epilogue = (const float *const *)((char *)dev + t_bytes);
    }
    if (st == CV_STATUS_OK && tables) {
        qsort(probs, (size_t)np, sizeof(row_gemm_t), compare_m);
        fill_row_tables(cuda, run, probs, np, b_member, is_half(prec), (const void **)host);
    }
    if (st == CV_STATUS_OK && host) {
        cudaError_t e = cudaMemcpyAsync(dev, host, c_bytes + t_bytes, cudaMemcpyHostToDevice, cuda->stream);
        if (e != cudaSuccess) st = cv_cuda_status(e, "cudaMemcpyAsync (GEMM tables)", __FILE__, __LINE__, err);
    }
    if (st == CV_STATUS_OK)
        st = launch_row_gemms(cuda, probs, np, tables ? (const void *const *)dev : NULL, sh, prec, err);
    if (heap) {
        cv_free(probs);
        cv_free(starts);
    }
    return st;
}

extern "C" int cv_cuda_step_group_weight(const cv_graph_t *g, const cv_node_t *n)
{
    if ((n->op != CV_OP_GEMM && n->op != CV_OP_MATMUL) || n->ninputs < 2) return -1;
    int v = n->inputs[1];
    return v >= 0 && g->values[v].constant && g->values[v].is_weight ? v : -1;
}

extern "C" cv_status cv_cuda_gemm(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    const cv_tensor_t *a = run->inputs[0], *b = run->inputs[1];
    const cv_tensor_t *c = run->ninputs > 2 ? run->inputs[2] : NULL;
    const cv_tensor_t *y = run->outputs[0];
    bool ta = cv_node_attr_int(run->node, "transA", 0) != 0;
    bool tb = cv_node_attr_int(run->node, "transB", 0) != 0;
    float alpha = cv_node_attr_float(run->node, "alpha", 1.0f);
    float beta = cv_node_attr_float(run->node, "beta", 1.0f);
    int64_t m = y->shape.dims[0], n = y->shape.dims[1], k = a->shape.dims[ta ? 0 : 1];
    bool multi = step_weighted(run) && run->nslices > 1;
    bool use_c = c && beta != 0.0f && cv_shape_numel(&c->shape) > 0;
    if (a->dtype != CV_DTYPE_FP32 || b->dtype != CV_DTYPE_FP32 || (use_c && c->dtype != CV_DTYPE_FP32) ||
        k == 0 || (multi && (ta || !run->batched[0])) || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
        return cv_cuda_run_on_host(cuda, run, err);
    if (m == 0 || n == 0) return CV_STATUS_OK;
    epilogue_c_t ec = {NULL, 1, 1};
    if (use_c) {
        int r = c->shape.ndim;
        ec.c = c;
        ec.cm = r == 2 ? c->shape.dims[0] : 1;
        ec.cn = r >= 1 ? c->shape.dims[r - 1] : 1;
        /* A per-slice C must broadcast along rows: slices differ in height. */
        int v = run->node->inputs[2];
        if (multi && ec.cm != 1 && run->graph->values[v].constant && run->graph->values[v].is_weight)
            return cv_cuda_run_on_host(cuda, run, err);
    }
    row_gemm_shape_t sh = {ta, tb, n, k, a->shape.dims[1], b->shape.dims[1], alpha};
    const float *const *dev_c = NULL;
    cv_status st = run_weighted_rows(cuda, run, &sh, m, multi, &ec, &dev_c, err);
    if (st != CV_STATUS_OK) return st;
    clamp_t cl = cv_activation_clamp(run->node);
    return launch_epilogue(cuda, (float *)y->data, m, n, 1, dev_c, ec.cn == 1 ? 0 : 1, 0, beta, NULL, &cl, err);
}

/* MatMul whose B has batch dims: one batched GEMM over the broadcast batch,
 * pointer tables as the CPU kernel walks it. */
static cv_status matmul_broadcast(cv_cuda_t *cuda, const cv_step_run_t *run, const cv_shape_t *ba,
                                  const cv_shape_t *bb, const cv_shape_t *batch, int64_t m, int64_t n, int64_t k,
                                  cv_err_t *err)
{
    cv_precision_t prec = run->precision;
    size_t es = operand_size(prec);
    half_operands_t h;
    cv_status st = convert_operands(cuda, run, is_half(prec), &h, err);
    if (st != CV_STATUS_OK) return st;
    int64_t nbatch = cv_shape_numel(batch);
    if (nbatch > INT32_MAX) return cv_cuda_run_on_host(cuda, run, err);
    void *host, *dev;
    size_t bytes = 3 * sizeof(void *) * (size_t)nbatch;
    if ((st = cv_cuda_stage(cuda, bytes, &host, &dev, err)) != CV_STATUS_OK) return st;
    const char *pa = h.a ? h.a : (const char *)run->inputs[0]->data;
    const char *pb = h.b ? h.b : (const char *)run->inputs[1]->data;
    float *py = (float *)run->outputs[0]->data;
    const void **tab = (const void **)host;
    int64_t sa[CV_MAX_DIMS], sb[CV_MAX_DIMS], idx[CV_MAX_DIMS] = {0};
    cv_broadcast_strides(ba, batch, sa);
    cv_broadcast_strides(bb, batch, sb);
    int nb = batch->ndim;
    for (int64_t t = 0; t < nbatch; t++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < nb; i++) {
            oa += idx[i] * sa[i];
            ob += idx[i] * sb[i];
        }
        tab[t] = pa + (size_t)(oa * m * k) * es;
        if (h.b) tab[nbatch + t] = pb + (size_t)(ob * k * n) * es;
        else put_input(cuda, run, &tab[nbatch + t], 1, 0, false, (size_t)(ob * k * n) * es);
        tab[2 * nbatch + t] = py + t * m * n;
        for (int i = nb - 1; i >= 0; i--) {
            if (++idx[i] < batch->dims[i]) break;
            idx[i] = 0;
        }
    }
    CV_CUDA_CHECK(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, cuda->stream), err);
    const void *const *d = (const void *const *)dev;
    const float one = 1.0f, zero = 0.0f;
    cudaDataType type = operand_type(prec);
    CV_CUBLAS_CHECK(cublasGemmBatchedEx(cuda->cublas, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)m, (int)k, &one,
                                        d + nbatch, type, (int)n, d, type, (int)k, &zero,
                                        (void *const *)(d + 2 * nbatch), CUDA_R_32F, (int)n, (int)nbatch,
                                        compute_type(prec), CUBLAS_GEMM_DEFAULT),
                    err);
    return CV_STATUS_OK;
}

extern "C" cv_status cv_cuda_matmul(cv_cuda_t *cuda, const cv_step_run_t *run, cv_err_t *err)
{
    const cv_tensor_t *a = run->inputs[0], *b = run->inputs[1];
    const cv_tensor_t *y = run->outputs[0];
    if (a->dtype != CV_DTYPE_FP32 || b->dtype != CV_DTYPE_FP32) return cv_cuda_run_on_host(cuda, run, err);
    int ra = a->shape.ndim, rb = b->shape.ndim;
    int64_t m = ra >= 2 ? a->shape.dims[ra - 2] : 1, k = a->shape.dims[ra - 1];
    int64_t n = rb >= 2 ? b->shape.dims[rb - 1] : 1;
    cv_shape_t ba, bb, batch;
    memset(&ba, 0, sizeof ba);
    memset(&bb, 0, sizeof bb);
    memset(&batch, 0, sizeof batch);
    ba.ndim = ra > 2 ? ra - 2 : 0;
    bb.ndim = rb > 2 ? rb - 2 : 0;
    memcpy(ba.dims, a->shape.dims, sizeof(int64_t) * (size_t)ba.ndim);
    memcpy(bb.dims, b->shape.dims, sizeof(int64_t) * (size_t)bb.ndim);
    int nb = CV_MAX(ba.ndim, bb.ndim);
    batch.ndim = nb;
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - ba.ndim), ib = i - (nb - bb.ndim);
        int64_t da = ia >= 0 ? ba.dims[ia] : 1, db = ib >= 0 ? bb.dims[ib] : 1;
        batch.dims[i] = da == 1 ? db : da;
    }
    int64_t nbatch = cv_shape_numel(&batch), numel_bb = cv_shape_numel(&bb);
    bool multi = step_weighted(run) && run->nslices > 1;
    if (k == 0 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX) return cv_cuda_run_on_host(cuda, run, err);
    if (m * n == 0 || nbatch == 0) return CV_STATUS_OK;
    cv_status st;
    if (numel_bb == 1) {
        /* B is shared by every batch: A's batches stack into one tall A, and
         * a wave's slices into row problems. */
        if (multi && (ra < 2 || !run->batched[0])) return cv_cuda_run_on_host(cuda, run, err);
        row_gemm_shape_t sh = {false, false, n, k, k, n, 1.0f};
        epilogue_c_t ec = {NULL, 1, 1};
        const float *const *unused = NULL;
        st = run_weighted_rows(cuda, run, &sh, nbatch * m, multi, &ec, &unused, err);
    } else {
        if (multi) return cv_cuda_run_on_host(cuda, run, err);
        st = matmul_broadcast(cuda, run, &ba, &bb, &batch, m, n, k, err);
    }
    if (st != CV_STATUS_OK) return st;
    clamp_t cl = cv_activation_clamp(run->node);
    return launch_epilogue(cuda, (float *)y->data, nbatch * m, n, 1, NULL, 0, 0, 1.0f, NULL, &cl, err);
}
