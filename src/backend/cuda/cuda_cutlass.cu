/*
 * cuda_cutlass.cu: a wave's FP16 convolution GEMMs with their epilogue
 * fused in (issue 9, item 3), from CUTLASS 3's pointer-array kernels for
 * Hopper (TMA, warpgroup MMA, an epilogue visitor tree).
 *
 * cuBLAS runs R tenants' GEMMs of one conv step in one batched call, but
 * offers no bias, activation or residual inside a pointer-array batch
 * (cuBLASLt: no algorithm, docs/RESULTS.md eighth session), so every conv
 * wrote its product and a second pass read it back to add the bias and
 * the residual and clamp: a third of a ResNet-50 FP16 wave on the H100
 * (ninth session's trace). Here one kernel computes, per row l of the
 * wave (its tenant's weights, its columns),
 *
 *     D_l = clamp(A_l B_l + bias_l (per row of D) + beta * C_l, lo, hi)
 *
 * with A_l the tenant's W (M x K, K contiguous), B_l the row's columns
 * (K x N, N contiguous: im2col's pixel columns, or a 1x1 conv's input
 * planes themselves), C_l the residual and D_l the output, both M x N with
 * N contiguous: NCHW planes. Every pointer comes from a table
 * in device memory, so that a captured graph serves other members when
 * the rebind rewrites the tables (cuda_graph.cu).
 *
 * Built only where the CUTLASS headers are (CMake: CARAVEL_CUTLASS_INCLUDE,
 * scripts/setup.sh installs them from PyPI's nvidia-cutlass) and only for
 * sm_90a, the target the pointer-array kernels need (they rewrite their
 * TMA descriptors on the device); elsewhere cv_cutlass_conv_fits says no
 * and the conv keeps cuBLAS and its epilogue pass.
 */
#include "backend/cuda/cuda_cutlass.h"

#if defined(CARAVEL_WITH_CUTLASS)

#include <cfloat>
#include <cuda_fp16.h>
#include <type_traits>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp"
#include "cutlass/epilogue/thread/activation.h"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/group_array_problem_shape.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/util/packed_stride.hpp"

using namespace cute;

namespace {

namespace fusion = cutlass::epilogue::fusion;
constexpr auto kRound = cutlass::FloatRoundStyle::round_to_nearest;

/* A pointer-array kernel for Hopper: A row-major (K contiguous), B in
 * layout LayoutB (RowMajor: N contiguous; ColumnMajor: K contiguous),
 * FP32 accumulation, the stages that fit beside the epilogue's shared
 * memory. */
template <typename T, typename LayoutB, typename Tile, typename Cluster, typename KernelSchedule, typename Epilogue>
struct kernel_of {
    static constexpr int align = 16 / sizeof(T); /* TMA loads: 16-byte rows */
    using mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
        cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, T, cutlass::layout::RowMajor, align, T, LayoutB, align,
        float, Tile, Cluster,
        cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epilogue::SharedStorage))>,
        KernelSchedule>::CollectiveOp;
    using kernel = cutlass::gemm::kernel::GemmUniversal<cutlass::gemm::ArrayProblemShape<Shape<int, int, int, int>>,
                                                         mainloop, Epilogue>;
};

cutlass::KernelHardwareInfo hardware(const cv_cutlass_conv_t *c, int sm_count)
{
    cutlass::KernelHardwareInfo hw;
    hw.device_id = c->device;
    hw.sm_count = sm_count;
    return hw;
}

/* The workspace and the launch of one of the kernels below (K: a
 * conv_gemm or conv_planes, which say how a cv_cutlass_conv_t becomes
 * their arguments). */
template <typename K> size_t kernel_workspace(const cv_cutlass_conv_t *c, int sm_count)
{
    return K::gemm::get_workspace_size(K::arguments(c, sm_count));
}

template <typename K> cutlass::Status kernel_run(const cv_cutlass_conv_t *c, int sm_count, cudaStream_t stream)
{
    typename K::gemm::Arguments args = K::arguments(c, sm_count);
    typename K::gemm op;
    cutlass::Status st = op.can_implement(args);
    if (st != cutlass::Status::kSuccess) return st;
    if (K::gemm::get_workspace_size(args) > c->workspace_bytes) return cutlass::Status::kErrorWorkspaceNull;
    st = op.initialize(args, c->workspace, stream);
    return st == cutlass::Status::kSuccess ? op.run(stream) : st;
}

/* One kernel: element type T, the tile and the schedule. In CUTLASS's
 * terms A is row-major (K contiguous), B LayoutB (row-major: N
 * contiguous, pixel columns; column-major: K contiguous, tap columns),
 * C and D LayoutCD (row-major: N contiguous, NCHW planes; column-major:
 * M contiguous, a Y stored channels innermost). The tree indexes the bias
 * by m whichever way D is laid out. */
template <typename T, typename Tile, typename Cluster, typename KernelSchedule, typename EpilogueSchedule,
          typename LayoutB = cutlass::layout::RowMajor, typename LayoutCD = cutlass::layout::RowMajor,
          typename TD = T>
struct conv_gemm {
    /* TD: C's and D's elements (float where A and B are TF32) */
    static constexpr int align_cd = 16 / sizeof(TD); /* TMA: 16-byte rows */
    /* clamp(beta * C + (acc + bias[m]), lo, hi): the bias a pointer per
     * batch (its tenant's), C the residual (beta 0: not read at all). */
    using bias = fusion::Sm90ColBroadcast<0, Tile, float *, float, Stride<_1, _0, int64_t>, 1>;
    using acc_plus_bias = fusion::Sm90EVT<fusion::Sm90Compute<cutlass::plus, float, float, kRound>,
                                          fusion::Sm90AccFetch, bias>;
    using with_residual =
        fusion::Sm90EVT<fusion::Sm90Compute<cutlass::homogeneous_multiply_add, float, float, kRound>,
                        fusion::Sm90ScalarBroadcast<float>, fusion::Sm90SrcFetch<TD>, acc_plus_bias>;
    using evt = fusion::Sm90EVT<fusion::Sm90Compute<cutlass::epilogue::thread::Clamp, TD, float, kRound>,
                                with_residual>;

    using epilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
        cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster,
        cutlass::epilogue::collective::EpilogueTileAuto, float, float, TD, LayoutCD, align_cd, TD, LayoutCD, align_cd,
        EpilogueSchedule, evt>::CollectiveOp;
    using kernel = typename kernel_of<T, LayoutB, Tile, Cluster, KernelSchedule, epilogue>::kernel;
    using gemm = cutlass::gemm::device::GemmUniversalAdapter<kernel>;

    static typename gemm::Arguments arguments(const cv_cutlass_conv_t *c, int sm_count)
    {
        using stride_a = typename kernel::StrideA;
        using stride_b = typename kernel::StrideB;
        using stride_c = typename kernel::StrideC;
        using stride_d = typename kernel::StrideD;
        int m = (int)c->m, n = (int)c->n, k = (int)c->k, l = (int)c->batch;
        typename gemm::Arguments args{
            cutlass::gemm::GemmUniversalMode::kArray,
            {{m, n, k, l}},
            {(const T **)c->a, cutlass::make_cute_packed_stride(stride_a{}, make_shape(m, k, 1)), (const T **)c->b,
             cutlass::make_cute_packed_stride(stride_b{}, make_shape(n, k, 1))},
            {{}, (const TD **)c->c, cutlass::make_cute_packed_stride(stride_c{}, make_shape(m, n, 1)), (TD **)c->d,
             cutlass::make_cute_packed_stride(stride_d{}, make_shape(m, n, 1))},
            hardware(c, sm_count)};
        /* The tree's arguments nest as its nodes: {children..., op}. */
        args.epilogue.thread = {
            {
                {{c->c ? 1.0f : 0.0f}},                    /* beta */
                {},                                        /* C */
                {{}, {(const float *const *)c->bias, 0.0f, {}}, {}}, /* acc + bias */
                {}                                         /* multiply-add */
            },
            {c->lo, c->hi} /* clamp */
        };
        return args;
    }
};

/* The epilogue of the small planes' kernels (conv_planes below): D's
 * rows there are 196 or 49 halves long, which TMA cannot store (it wants
 * rows of a multiple of 16 bytes), so each thread writes its own
 * accumulators straight from registers, as CUTLASS's no-shared-memory
 * epilogue does, computing for each element (m, n) of row l's tile
 *
 *     D_l[m][n] = clamp(acc + bias_l[m] + C_l[m][n], lo, hi)
 *
 * with D_l and C_l (the residual, or none) M x N with N contiguous: NCHW
 * planes of any length. Its interface is the one the pointer-array kernels
 * call an epilogue through (Sm90TmaWarpSpecializedAdapter). */
template <typename T> struct plane_epilogue {
    static_assert(std::is_same<T, cutlass::half_t>::value, "pairs are stored as __half2");
    using EpilogueSchedule = cutlass::epilogue::PtrArrayNoSmemWarpSpecialized;
    using DispatchPolicy = EpilogueSchedule;
    /* the element types and strides the kernel reads; the strides are
     * not used: rows are N long, the planes packed */
    struct ThreadEpilogueOp {
        using ElementOutput = T;
        using ElementAccumulator = float;
        using ElementCompute = float;
        using ElementD = T;
        static constexpr int kCount = 1;
    };
    using ElementC = T;
    using ElementD = T;
    using ElementAccumulator = float;
    using StrideC = cutlass::detail::TagToStrideC_t<cutlass::layout::RowMajor>;
    using StrideD = StrideC;
    using InternalStrideC = StrideC;
    using InternalStrideD = StrideD;
    using GmemTiledCopyC = void;
    using GmemTiledCopyD = void;
    struct SharedStorage {};
    using TensorMapStorage = SharedStorage;

    struct Arguments {
        const T *const *ptr_c = nullptr; /* residual per row, or none */
        T *const *ptr_d = nullptr;
        const float *const *bias = nullptr; /* per row, or none */
        float lo = -FLT_MAX, hi = FLT_MAX;
    };
    using Params = Arguments;

    template <class ProblemShape>
    static constexpr Params to_underlying_arguments(ProblemShape const &, Arguments const &args, void *)
    {
        return args;
    }
    template <class ProblemShape> static size_t get_workspace_size(ProblemShape const &, Arguments const &, int)
    {
        return 0;
    }
    template <class ProblemShape>
    static cutlass::Status initialize_workspace(ProblemShape const &, Arguments const &, void *, cudaStream_t,
                                                cutlass::CudaHostAdapter * = nullptr)
    {
        return cutlass::Status::kSuccess;
    }
    template <class ProblemShape> static bool can_implement(ProblemShape const &, Arguments const &args)
    {
        return args.ptr_d != nullptr;
    }

    CUTLASS_HOST_DEVICE plane_epilogue(Params const &p) : params(p) {}

    CUTLASS_DEVICE bool is_source_needed() { return params.ptr_c != nullptr; }

    template <class ProblemShapeMNKL, class BlockShapeMNK, class BlockCoordMNKL, class FrgEngine, class FrgLayout,
              class TiledMma, class ResidueMNK>
    CUTLASS_DEVICE void operator()(ProblemShapeMNKL problem, BlockShapeMNK blk, BlockCoordMNKL blk_coord,
                                   cute::Tensor<FrgEngine, FrgLayout> const &acc, TiledMma tiled_mma, ResidueMNK,
                                   int thread_idx, char *)
    {
        int m_end = get<0>(problem), n_end = get<1>(problem);
        auto [m_coord, n_coord, k_coord, l_coord] = blk_coord;
        T *d = params.ptr_d[l_coord];
        const T *c = params.ptr_c ? params.ptr_c[l_coord] : nullptr;
        const float *bias = params.bias ? params.bias[l_coord] : nullptr;
        /* each accumulator's (m, n), as the MMA partitions the tile */
        Tensor tile = local_tile(make_identity_tensor(make_shape(m_end, n_end)), take<0, 2>(blk),
                                 make_coord(m_coord, n_coord));
        Tensor at = tiled_mma.get_thread_slice(thread_idx).partition_C(tile);
        /* The MMA gives a thread pairs of neighbours along n, (m, n) and
         * (m, n + 1), as accumulators i and i + 1: where N is even and
         * the planes 4-byte aligned each pair is one 4-byte store (and
         * load of C); any other pair, element by element. */
        bool pairs = n_end % 2 == 0 && (uintptr_t)d % 4 == 0 && (uintptr_t)c % 4 == 0;
        CUTLASS_PRAGMA_UNROLL
        for (int i = 0; i + 1 < size(acc); i += 2) {
            int m = get<0>(at(i)), n = get<1>(at(i));
            if (pairs && get<0>(at(i + 1)) == m && get<1>(at(i + 1)) == n + 1 && n % 2 == 0) {
                if (m < m_end && n < n_end) { /* n + 1 < N too: N even */
                    size_t e = (size_t)m * (size_t)n_end + (size_t)n;
                    float b = bias ? __ldg(bias + m) : 0.0f;
                    float v0 = acc(i) + b, v1 = acc(i + 1) + b;
                    if (c) {
                        __half2 r = *(const __half2 *)(c + e);
                        v0 += __low2float(r);
                        v1 += __high2float(r);
                    }
                    *(__half2 *)(d + e) = __floats2half2_rn(clamp(v0), clamp(v1));
                }
            } else {
                put(acc(i), at(i), m_end, n_end, d, c, bias);
                put(acc(i + 1), at(i + 1), m_end, n_end, d, c, bias);
            }
        }
        if (size(acc) % 2) put(acc(size(acc) - 1), at(size(acc) - 1), m_end, n_end, d, c, bias);
    }

    /* NaN stays NaN, as in the epilogue pass */
    CUTLASS_DEVICE float clamp(float v) const { return v < params.lo ? params.lo : (v > params.hi ? params.hi : v); }

    /* one element: D[m][n] = clamp(v + bias[m] + C[m][n]) */
    template <class Coord>
    CUTLASS_DEVICE void put(float v, Coord const &mn, int m_end, int n_end, T *d, const T *c, const float *bias) const
    {
        int m = get<0>(mn), n = get<1>(mn);
        if (m >= m_end || n >= n_end) return;
        size_t e = (size_t)m * (size_t)n_end + (size_t)n;
        if (bias) v += __ldg(bias + m);
        if (c) v += (float)c[e];
        d[e] = T(clamp(v));
    }

    Params params;
};

/* A kernel of the small planes (cuda_gemm.cu's k_major columns): A row-
 * major (K contiguous: the tenant's W), B K-contiguous (the columns,
 * N x K with K contiguous), D and C through plane_epilogue. */
template <typename T, typename Tile, typename Cluster, typename KernelSchedule> struct conv_planes {
    using epilogue = cutlass::epilogue::collective::detail::Sm90TmaWarpSpecializedAdapter<plane_epilogue<T>>;
    using kernel =
        typename kernel_of<T, cutlass::layout::ColumnMajor, Tile, Cluster, KernelSchedule, epilogue>::kernel;
    using gemm = cutlass::gemm::device::GemmUniversalAdapter<kernel>;

    static typename gemm::Arguments arguments(const cv_cutlass_conv_t *c, int sm_count)
    {
        using stride_a = typename kernel::StrideA;
        using stride_b = typename kernel::StrideB;
        int m = (int)c->m, n = (int)c->n, k = (int)c->k, l = (int)c->batch;
        typename plane_epilogue<T>::Arguments epi;
        epi.ptr_c = (const T *const *)c->c;
        epi.ptr_d = (T *const *)c->d;
        epi.bias = c->bias;
        epi.lo = c->lo;
        epi.hi = c->hi;
        return typename gemm::Arguments{cutlass::gemm::GemmUniversalMode::kArray,
                                        {{m, n, k, l}},
                                        {(const T **)c->a,
                                         cutlass::make_cute_packed_stride(stride_a{}, make_shape(m, k, 1)),
                                         (const T **)c->b,
                                         cutlass::make_cute_packed_stride(stride_b{}, make_shape(n, k, 1))},
                                        epi,
                                        hardware(c, sm_count)};
    }
};

using tile_wide = Shape<_128, _128, _64>;
using tile_narrow = Shape<_64, _128, _64>;
using cluster_1 = Shape<_1, _1, _1>;
using cooperative = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedCooperative;
using cooperative_epi = cutlass::epilogue::PtrArrayTmaWarpSpecializedCooperative;
using pingpong = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedPingpong;
using pingpong_epi = cutlass::epilogue::PtrArrayTmaWarpSpecializedPingpong;

using wide = conv_gemm<cutlass::half_t, tile_wide, cluster_1, cooperative, cooperative_epi>;
using narrow = conv_gemm<cutlass::half_t, tile_narrow, cluster_1, pingpong, pingpong_epi>;
/* Small planes: 64 pixels a tile (196 = 4 tiles at 77% use, 49 = 1 at
 * 77%, where 128 would use 38% of a 7x7 plane's tile). */
using planes_wide = conv_planes<cutlass::half_t, Shape<_128, _64, _64>, cluster_1, cooperative>;
using planes_narrow = conv_planes<cutlass::half_t, Shape<_64, _64, _64>, cluster_1, pingpong>;
/* Small planes stored channels innermost (cd_m_major): the tap columns
 * (or a 1x1's X) K-contiguous, Y and the residual [P, M], so D's rows are
 * M long and TMA stores them with the tree's epilogue; the same 64-pixel
 * tiles. */
using nhwc_wide = conv_gemm<cutlass::half_t, Shape<_128, _64, _64>, cluster_1, cooperative, cooperative_epi,
                            cutlass::layout::ColumnMajor, cutlass::layout::ColumnMajor>;
using nhwc_narrow = conv_gemm<cutlass::half_t, Shape<_64, _64, _64>, cluster_1, pingpong, pingpong_epi,
                              cutlass::layout::ColumnMajor, cutlass::layout::ColumnMajor>;
/* The same for TF32 tenants: A and B FP32, which the builder gives
 * TF32's MMA (Hopper's reads K-contiguous operands only, which these are)
 * and TMA loads rounding to TF32, as cuBLAS's TF32 does (declared as
 * tfloat32_t they would be taken as TF32 already, bits truncated); C and
 * D FP32; K tiles of 32 (128 bytes, as the half kernels' 64). */
using nhwc_tf32_wide = conv_gemm<float, Shape<_128, _64, _32>, cluster_1, cooperative, cooperative_epi,
                                 cutlass::layout::ColumnMajor, cutlass::layout::ColumnMajor, float>;
using nhwc_tf32_narrow = conv_gemm<float, Shape<_64, _64, _32>, cluster_1, pingpong, pingpong_epi,
                                   cutlass::layout::ColumnMajor, cutlass::layout::ColumnMajor, float>;

/* The device's SM count (the persistent grid) and whether it is a
 * Hopper, the one target these kernels are built for; 0 when unknown. */
struct device_facts {
    int sms;
    bool hopper;
};
device_facts facts_of(int device)
{
    static thread_local int known_device = -1;
    static thread_local device_facts known;
    if (device != known_device) {
        int sms = 0, major = 0, minor = 0;
        if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
            cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
            cudaGetLastError();
            return device_facts{0, false};
        }
        known = device_facts{sms, major == 9 && minor == 0};
        known_device = device;
    }
    return known;
}

/* Outputs of fewer than 128 channels would leave half of a wide tile
 * idle: those take the 64-row tile. */
template <typename F> auto with_kernel(const cv_cutlass_conv_t *c, F f)
{
    if (c->cd_m_major && c->prec == CV_PRECISION_TF32) return c->m >= 128 ? f(nhwc_tf32_wide()) : f(nhwc_tf32_narrow());
    if (c->cd_m_major) return c->m >= 128 ? f(nhwc_wide()) : f(nhwc_narrow());
    if (c->b_k_major) return c->m >= 128 ? f(planes_wide()) : f(planes_narrow());
    return c->m >= 128 ? f(wide()) : f(narrow());
}

} /* namespace */

extern "C" bool cv_cutlass_available(void) { return true; }

extern "C" bool cv_cutlass_device_is_hopper(int device) { return facts_of(device).hopper; }

extern "C" bool cv_cutlass_conv_fits(const cv_cutlass_conv_t *c)
{
    /* TMA: rows of 16 bytes (K for A; N for B, C and D unless B is
     * K-contiguous, when C and D are written without TMA); int extents. */
    /* FP16; TF32 only with C and D channels innermost (the kernels built
     * for it). 16-byte rows: 8 halves, 4 floats. */
    bool half = c->prec == CV_PRECISION_FP16, tf32 = c->prec == CV_PRECISION_TF32 && c->cd_m_major;
    int64_t row = half ? 8 : 4;
    return facts_of(c->device).hopper && (half || tf32) && c->k % row == 0 && (c->b_k_major || c->n % row == 0) &&
           (!c->cd_m_major || (c->b_k_major && c->m % row == 0)) &&
           c->m > 0 && c->m <= INT32_MAX && c->n <= INT32_MAX && c->k <= INT32_MAX && c->batch > 0 &&
           c->batch <= INT32_MAX;
}

extern "C" size_t cv_cutlass_conv_workspace(const cv_cutlass_conv_t *c)
{
    int sms = facts_of(c->device).sms;
    return with_kernel(c, [&](auto k) { return kernel_workspace<decltype(k)>(c, sms); });
}

extern "C" cv_status cv_cutlass_conv_run(const cv_cutlass_conv_t *c, cudaStream_t stream, cv_err_t *err)
{
    int sms = facts_of(c->device).sms;
    if (!sms) return cv_errorf(err, CV_STATUS_INTERNAL, "CUTLASS conv: cannot read the device's SM count");
    cutlass::Status st = with_kernel(c, [&](auto k) { return kernel_run<decltype(k)>(c, sms, stream); });
    if (st != cutlass::Status::kSuccess)
        return cv_errorf(err, CV_STATUS_INTERNAL, "CUTLASS conv GEMM (M %lld, N %lld, K %lld, %lld rows): %s",
                         (long long)c->m, (long long)c->n, (long long)c->k, (long long)c->batch,
                         cutlassGetStatusString(st));
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return cv_cuda_status(e, "CUTLASS conv GEMM launch", __FILE__, __LINE__, err);
    return CV_STATUS_OK;
}

#else /* no CUTLASS: the conv keeps cuBLAS and its epilogue pass */

extern "C" bool cv_cutlass_available(void) { return false; }
extern "C" bool cv_cutlass_device_is_hopper(int device) { return false; }
extern "C" bool cv_cutlass_conv_fits(const cv_cutlass_conv_t *c) { return false; }
extern "C" size_t cv_cutlass_conv_workspace(const cv_cutlass_conv_t *c) { return 0; }
extern "C" cv_status cv_cutlass_conv_run(const cv_cutlass_conv_t *c, cudaStream_t stream, cv_err_t *err)
{
    return cv_errorf(err, CV_STATUS_INTERNAL, "built without CUTLASS");
}

#endif
