/*
 * cuda_cutlass_fp32.cu: a wave's FP32 convolution GEMMs on the tensor
 * cores at FP32's accuracy (3xTF32), from CUTLASS 2's pointer-array GEMM
 * (issue 9: ResNet-50 FP32 at R = 64 runs at 74% of its cuBLAS-SGEMM-only
 * bound, and that bound itself is short of the goal).
 *
 * An FP32 tenant must get FP32's results, so TF32's one product (10-bit
 * mantissas) will not do. 3xTF32 splits each operand x into big = tf32(x)
 * and small = tf32(x - big) and sums big*big + big*small + small*big in
 * FP32 accumulators: the products keep about 21 bits of each operand,
 * errors of FP32 SGEMM's order (CUTLASS's example 27 measures it against
 * FP64), on the tensor cores instead of the FP32 pipes. On the H100 these
 * are Ampere's mma.sync kernels (CUTLASS's warpgroup kernels have no such
 * mode), three MMAs a product.
 *
 * The GEMM is the one cuBLAS ran (cuda_gemm.cu, conv_gemms), with the same
 * device tables: per problem l, D_l (M x N) = A_l (M x K) B_l (K x N), all
 * row-major: A a tenant's W (lda = K of the whole conv, a part of it when
 * K is split), B the columns or a 1x1's X (ldb = N), D the output planes
 * or a split's partial sums (ldd = N). The bias, residual and clamp stay
 * in the epilogue pass that follows. Rows of 16 bytes take the kernels
 * that load 4 floats at a time; others (7x7 planes, K = 147) load one.
 *
 * The same kernels with one TF32 product serve TF32 tenants where asked
 * (CARAVEL_TF32_GEMM=cutlass), to be measured against cuBLAS's TF32
 * kernels, which read these operands (B N-contiguous) in a way Hopper's
 * TF32 warpgroup MMA cannot (it wants both K-contiguous).
 *
 * Built with cuda_cutlass.cu where the CUTLASS headers are (CMake); without
 * them cv_cutlass_sgemm_fits says no and cuBLAS keeps the GEMMs.
 */
#include "backend/cuda/cuda_cutlass.h"

#if defined(CARAVEL_WITH_CUTLASS)

#include <cfloat>

#include "cutlass/cutlass.h"
#include "cutlass/epilogue/thread/linear_combination.h"
#include "cutlass/gemm/device/gemm_universal.h"
#include "cutlass/gemm/threadblock/default_mma.h"

namespace {

/* Ampere's MMA (16 x 8 x 8) in 3xTF32 (Op = OpMultiplyAddFastF32) or one
 * TF32 product (OpMultiplyAdd), row-major A, B and D, loads of Align
 * floats, warps of 64 x 32 (wider ones spill with three products'
 * fragments). */
template <typename Op, int Align, int TileN, int Stages>
using sgemm = cutlass::gemm::device::GemmUniversal<
    float, cutlass::layout::RowMajor, float, cutlass::layout::RowMajor, float, cutlass::layout::RowMajor, float,
    cutlass::arch::OpClassTensorOp, cutlass::arch::Sm80, cutlass::gemm::GemmShape<128, TileN, 16>,
    cutlass::gemm::GemmShape<64, 32, 16>, cutlass::gemm::GemmShape<16, 8, 8>,
    cutlass::epilogue::thread::LinearCombination<float, Align, float, float>,
    cutlass::gemm::threadblock::GemmIdentityThreadblockSwizzle<>, Stages, Align, Align, Op>;

/* The four kernels of one way: planes of at most 64 pixels (ResNet-50's
 * 7x7 stage) fill half of a 128-wide tile, so those take 64. */
template <typename Op> struct kernels {
    using wide_aligned = sgemm<Op, 4, 128, 3>;
    using wide_any = sgemm<Op, 1, 128, 3>;
    using narrow_aligned = sgemm<Op, 4, 64, 4>;
    using narrow_any = sgemm<Op, 1, 64, 4>;
};

/* The same GEMM with the epilogue inside (cv_cutlass_sgemm_t.fused): our
 * own kernel around CUTLASS's threadblock mainloop. The warp's
 * accumulator iterator (the one CUTLASS's own tests store accumulators
 * with) writes the block's tile to shared memory, each element at its (m,
 * n); then the block walks the tile along rows, adding the row's bias and
 * the residual and clamping on the way to Y: stores a warp wide along a
 * row of the NCHW planes, whatever the plane's length. */
template <typename Op, int Align, int TileN, int Stages> struct fused {
    using mma = typename cutlass::gemm::threadblock::DefaultMma<
        float, cutlass::layout::RowMajor, Align, float, cutlass::layout::RowMajor, Align, float,
        cutlass::layout::RowMajor, cutlass::arch::OpClassTensorOp, cutlass::arch::Sm80,
        cutlass::gemm::GemmShape<128, TileN, 16>, cutlass::gemm::GemmShape<64, 32, 16>,
        cutlass::gemm::GemmShape<16, 8, 8>, Stages, Op>::ThreadblockMma;
    static constexpr int kTileM = 128, kTileN = TileN;
    static constexpr int kThreads = mma::WarpCount::kCount * 32;
    /* the tile's rows in shared memory, padded against bank conflicts */
    static constexpr int kLd = TileN + 4;
    static constexpr size_t kTileBytes = sizeof(float) * kTileM * kLd;
    static constexpr size_t kSmem =
        sizeof(typename mma::SharedStorage) > kTileBytes ? sizeof(typename mma::SharedStorage) : kTileBytes;
};

template <typename F> __global__ void __launch_bounds__(F::kThreads) fused_kernel(cv_cutlass_sgemm_t g)
{
    using mma = typename F::mma;
    extern __shared__ __align__(128) unsigned char fused_smem[];
    int l = blockIdx.z, m0 = blockIdx.y * F::kTileM, n0 = blockIdx.x * F::kTileN;
    int thread = threadIdx.x, warp = cutlass::canonical_warp_idx_sync(), lane = threadIdx.x % 32;
    int m = (int)g.m, n = (int)g.n, k = (int)g.k;
    typename mma::IteratorA a(typename mma::IteratorA::Params(cutlass::layout::RowMajor((int)g.lda)),
                              (float *)g.a[l], {m, k}, thread, {m0, 0});
    typename mma::IteratorB b(typename mma::IteratorB::Params(cutlass::layout::RowMajor((int)g.ldb)),
                              (float *)g.b[l], {k, n}, thread, {0, n0});
    typename mma::FragmentC acc;
    acc.clear();
    {
        mma mainloop(*reinterpret_cast<typename mma::SharedStorage *>(fused_smem), thread, warp, lane);
        mainloop((k + mma::Shape::kK - 1) / mma::Shape::kK, acc, a, b, acc);
    }
    /* The mainloop drained its copies and synchronised: its shared memory
     * takes the tile now. Warps are numbered along M first. */
    float *tile = reinterpret_cast<float *>(fused_smem);
    int warp_mn = warp % (mma::WarpCount::kM * mma::WarpCount::kN);
    typename mma::Operator::IteratorC to_tile({tile, cutlass::layout::RowMajor(F::kLd)}, lane);
    to_tile.add_tile_offset({warp_mn % mma::WarpCount::kM, warp_mn / mma::WarpCount::kM});
    to_tile.store(acc);
    __syncthreads();
    float *d = (float *)g.d[l];
    const float *c = g.c ? (const float *)g.c[l] : nullptr;
    const float *bias = g.bias ? g.bias[l] : nullptr;
    for (int i = thread; i < F::kTileM * F::kTileN; i += F::kThreads) {
        int r = i / F::kTileN, col = i % F::kTileN, row = m0 + r, x = n0 + col;
        if (row >= m || x >= n) continue;
        float v = tile[r * F::kLd + col];
        if (bias) v += __ldg(bias + row);
        size_t e = (size_t)row * (size_t)g.ldd + (size_t)x;
        if (c) v += c[e];
        /* NaN stays NaN, as in the epilogue pass */
        d[e] = v < g.lo ? g.lo : (v > g.hi ? g.hi : v);
    }
}

template <typename F> cutlass::Status run_fused(const cv_cutlass_sgemm_t *g, cudaStream_t stream)
{
    /* Over 48 KB of shared memory needs asking, once a kernel and device
     * (a second ask from another thread asks the same). */
    static bool asked[64];
    bool known = g->device >= 0 && g->device < 64 && asked[g->device];
    if (!known) {
        if (cudaFuncSetAttribute(fused_kernel<F>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)F::kSmem) !=
            cudaSuccess)
            return cutlass::Status::kErrorInternal;
        if (g->device >= 0 && g->device < 64) asked[g->device] = true;
    }
    dim3 grid((unsigned)((g->n + F::kTileN - 1) / F::kTileN), (unsigned)((g->m + F::kTileM - 1) / F::kTileM),
              (unsigned)g->batch);
    fused_kernel<F><<<grid, F::kThreads, F::kSmem, stream>>>(*g);
    return cudaPeekAtLastError() == cudaSuccess ? cutlass::Status::kSuccess : cutlass::Status::kErrorInternal;
}

template <typename G> cutlass::Status run(const cv_cutlass_sgemm_t *g, cudaStream_t stream)
{
    /* beta 0: C is never read (LinearCombination skips the source); D's
     * table stands in for it. */
    typename G::Arguments args(cutlass::gemm::GemmUniversalMode::kArray,
                               cutlass::gemm::GemmCoord((int)g->m, (int)g->n, (int)g->k), (int)g->batch, {1.0f, 0.0f},
                               (const void *)g->a, (const void *)g->b, (const void *)g->d, (void *)g->d, 0, 0, 0, 0,
                               g->lda, g->ldb, g->ldd, g->ldd);
    G op;
    cutlass::Status st = op.can_implement(args);
    if (st != cutlass::Status::kSuccess) return st;
    /* The array mode splits no K: no workspace. */
    if (G::get_workspace_size(args) != 0) return cutlass::Status::kErrorWorkspaceNull;
    st = op.initialize(args, nullptr, stream);
    return st == cutlass::Status::kSuccess ? op.run(stream) : st;
}

} /* namespace */

extern "C" bool cv_cutlass_sgemm_fits(const cv_cutlass_sgemm_t *g)
{
    return cv_cutlass_device_is_hopper(g->device) && g->m > 0 && g->n > 0 && g->k > 0 && g->m <= INT32_MAX &&
           g->n <= INT32_MAX && g->k <= INT32_MAX && g->batch > 0 && g->batch <= 65535 && g->lda >= g->k &&
           g->ldb >= g->n && g->ldd >= g->n;
}

template <typename Op> cutlass::Status run_one_of(const cv_cutlass_sgemm_t *g, cudaStream_t stream)
{
    bool narrow = g->n <= 64;
    if (g->fused)
        return g->aligned ? (narrow ? run_fused<fused<Op, 4, 64, 4>>(g, stream) : run_fused<fused<Op, 4, 128, 3>>(g, stream))
                          : (narrow ? run_fused<fused<Op, 1, 64, 4>>(g, stream) : run_fused<fused<Op, 1, 128, 3>>(g, stream));
    using K = kernels<Op>;
    return g->aligned ? (narrow ? run<typename K::narrow_aligned>(g, stream) : run<typename K::wide_aligned>(g, stream))
                      : (narrow ? run<typename K::narrow_any>(g, stream) : run<typename K::wide_any>(g, stream));
}

extern "C" cv_status cv_cutlass_sgemm_run(const cv_cutlass_sgemm_t *g, cudaStream_t stream, cv_err_t *err)
{
    const char *way = g->tf32 ? "TF32" : "3xTF32";
    cutlass::Status st = g->tf32 ? run_one_of<cutlass::arch::OpMultiplyAdd>(g, stream)
                                 : run_one_of<cutlass::arch::OpMultiplyAddFastF32>(g, stream);
    if (st != cutlass::Status::kSuccess)
        return cv_errorf(err, CV_STATUS_INTERNAL, "CUTLASS %s GEMM (M %lld, N %lld, K %lld, %lld problems): %s", way,
                         (long long)g->m, (long long)g->n, (long long)g->k, (long long)g->batch,
                         cutlassGetStatusString(st));
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return cv_cuda_status(e, "CUTLASS FP32/TF32 GEMM launch", __FILE__, __LINE__, err);
    return CV_STATUS_OK;
}

#else /* no CUTLASS: cuBLAS keeps the FP32 GEMMs */

extern "C" bool cv_cutlass_sgemm_fits(const cv_cutlass_sgemm_t *g) { return false; }
extern "C" cv_status cv_cutlass_sgemm_run(const cv_cutlass_sgemm_t *g, cudaStream_t stream, cv_err_t *err)
{
    return cv_errorf(err, CV_STATUS_INTERNAL, "built without CUTLASS");
}

#endif
