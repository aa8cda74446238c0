/* conv_layouts: which GEMM layout a wave's convolutions should use (issue 9).
 *
 * For R tenants of ResNet-50 at batch 1 (distinct weights and activations,
 * the shapes of ../shared/anchors/r50_gemm_bound.cu), times every conv
 * layer's GEMM over the R tenants in one cuBLAS call four ways, each layer
 * on its own (events around 20 launches):
 *   nchw      what the CUDA backend does today: Y^T (P x M) = col^T W^T,
 *             leading dimension P (49 and 196 pixels are not 16-byte
 *             aligned in half precision);
 *   nchw_pad  the same with the leading dimension rounded up to 8;
 *   nhwc      Y (M x P, leading dimension M) = W col: channels innermost;
 *   nhwc_tt   the same C from today's operands: W^T and the NCHW columns
 *             (P x K, leading dimension P) both transposed by cuBLAS, so
 *             that only C changes layout (an epilogue could transpose it);
 *   lt_fused  nhwc through cuBLASLt's pointer-array batch mode with the
 *             bias and Relu in the GEMM's epilogue, and the residual as
 *             its C (beta = 1) on the 1x1s that end a block; where cuBLASLt
 *             offers no algorithm it says so;
 *   lt_rows   the same fused GEMM on NCHW planes, as cuBLASLt's row-major
 *             layouts: Y (M x P, rows ld apart) = W (M x K) col (K x P), the
 *             leading dimension P rounded up to 8: NCHW kept, the epilogue
 *             pass gone;
 *   lt_relu   nhwc in cuBLASLt's pointer-array mode with no bias: Relu in
 *             the epilogue and the residual as C (a bias could ride in K:
 *             a column of W against a row of ones in the columns). On
 *             2026-12-07 the H100's cuBLAS 13 offered nothing with a bias
 *             in pointer-array mode; this says whether it offers anything.
 * Then the same layer with every tenant's weights the same (tenants that
 * share the layer, issue 14, or one model at batch R):
 *   shared        the backend's strided-batched GEMM for that case (NCHW);
 *   shared_lt     cuBLASLt's strided batch on NCHW planes as row-major
 *                 layouts, W's stride 0, with bias, Relu and residual
 *                 fused (the epilogue pass gone where cuBLASLt offers it);
 * and the separate epilogue pass the first three still need (bias, Relu,
 * and the residual where a block ends: one read and one write of Y, plus
 * the residual). Prints one line per layer and the sums, so that a layout
 * change is chosen by measurement before it is built.
 * Usage: conv_layouts [R] [fp16|fp32|tf32]...   (default 64 fp16) */
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(x)                                                                                  \
    do {                                                                                       \
        cudaError_t e_ = (x);                                                                  \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "conv_layouts: %s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)
#define CB(x)                                                                                  \
    do {                                                                                       \
        cublasStatus_t s_ = (x);                                                               \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                     \
            fprintf(stderr, "conv_layouts: %s:%d: cuBLAS status %d\n", __FILE__, __LINE__, (int)s_); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

typedef struct {
    int m, p, k;   /* out channels, pixels, in channels x taps */
    int residual;  /* ends a bottleneck block: the residual joins its epilogue */
    int relu;
} layer_t;

static layer_t layers[64];
static int nlayers;
static void add(int m, int p, int k, int residual, int relu)
{
    layers[nlayers++] = (layer_t){m, p, k, residual, relu};
}

static void resnet50(void)
{
    add(64, 12544, 147, 0, 1);
    int in = 64, hw = 3136, widths[4] = {64, 128, 256, 512}, blocks[4] = {3, 4, 6, 3};
    for (int s = 0; s < 4; s++) {
        int w = widths[s], out = 4 * w;
        for (int b = 0; b < blocks[s]; b++) {
            int hw_out = (b == 0 && s > 0) ? hw / 4 : hw;
            add(w, hw, in, 0, 1);
            add(w, hw_out, 9 * w, 0, 1);
            if (b == 0) add(out, hw_out, in, 0, 0); /* downsample: no Relu */
            add(out, hw_out, w, 1, 1);
            in = out;
            hw = hw_out;
        }
    }
}

static __global__ void fill_kernel(void *p, size_t n, int half)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    if (half) ((__half *)p)[i] = __float2half(v);
    else ((float *)p)[i] = v;
}

/* The epilogue pass of today's path, NCHW: y = relu(y + bias[m] (+ r)). */
template <typename T>
static __global__ void epilogue_kernel(T *y, const T *r, const float *bias, int m, int p, size_t n, int relu)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v = (float)y[i] + bias[(i / p) % m];
    if (r) v += (float)r[i];
    if (relu) v = fmaxf(v, 0.0f);
    y[i] = (T)v;
}

static void fill(void *p, size_t n, int as_half)
{
    fill_kernel<<<(unsigned)((n + 255) / 256), 256>>>(p, n, as_half);
    CK(cudaGetLastError());
}

typedef struct {
    const char *name;
    int half;
    cudaDataType_t type;
    cublasComputeType_t compute;
} precision_t;

static const precision_t precisions[] = {
    {"fp16", 1, CUDA_R_16F, CUBLAS_COMPUTE_32F},
    {"fp32", 0, CUDA_R_32F, CUBLAS_COMPUTE_32F},
    {"tf32", 0, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32},
};

enum { NCHW, NCHW_PAD, NHWC, NHWC_TT, LT_FUSED, LT_ROWS, LT_RELU, SHARED, SHARED_LT, EPILOGUE, NWAYS };
static const char *way_names[NWAYS] = {"nchw",    "nchw_pad", "nhwc",   "nhwc_tt",   "lt_fused",
                                       "lt_rows", "lt_relu",  "shared", "shared_lt", "epilogue"};

typedef struct {
    cublasHandle_t blas;
    cublasLtHandle_t lt;
    cudaStream_t stream;
    void *workspace;
    size_t workspace_bytes;
    cudaEvent_t e0, e1;
} ctx_t;

#define REPS 20

/* Microseconds per launch of the REPS launches since e0 was recorded. */
static double elapsed_us(ctx_t *c)
{
    CK(cudaEventRecord(c->e1, c->stream));
    CK(cudaEventSynchronize(c->e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, c->e0, c->e1));
    return 1e3 * ms / REPS;
}

/* A cuBLASLt GEMM of `l`: bias (unless NULL; batch_stride elements between
 * the tenants' biases) and Relu in the epilogue, the residual as C (beta 1)
 * where the layer ends a block. */
static cublasLtMatmulDesc_t lt_desc(const precision_t *pr, const layer_t *l, cublasOperation_t ta, const void *bias,
                                    int64_t batch_stride)
{
    cublasLtMatmulDesc_t desc;
    CB(cublasLtMatmulDescCreate(&desc, pr->compute, CUDA_R_32F));
    cublasOperation_t tb = CUBLAS_OP_N;
    CB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    cublasLtEpilogue_t epi = bias ? (l->relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                  : (l->relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
    CB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (bias) {
        CB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
        cudaDataType_t bias_type = CUDA_R_32F;
        CB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                          sizeof bias_type));
        CB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, &batch_stride,
                                          sizeof batch_stride));
    }
    return desc;
}

/* Four layouts (A, B, C, D: rows, columns, leading dimension) of R
 * problems: pointer arrays (strides NULL) or strided by strides[i],
 * row-major where `rows`. */
static void lt_layouts(const precision_t *pr, int R, const int64_t shape[4][3], const int64_t *strides, bool rows,
                       cublasLtMatrixLayout_t lay[4])
{
    int32_t count = R;
    uint32_t mode = CUBLASLT_BATCH_MODE_POINTER_ARRAY;
    cublasLtOrder_t order = CUBLASLT_ORDER_ROW;
    for (int i = 0; i < 4; i++) {
        CB(cublasLtMatrixLayoutCreate(&lay[i], pr->type, (uint64_t)shape[i][0], (uint64_t)shape[i][1], shape[i][2]));
        CB(cublasLtMatrixLayoutSetAttribute(lay[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
        if (strides)
            CB(cublasLtMatrixLayoutSetAttribute(lay[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &strides[i],
                                                sizeof strides[i]));
        else
            CB(cublasLtMatrixLayoutSetAttribute(lay[i], CUBLASLT_MATRIX_LAYOUT_BATCH_MODE, &mode, sizeof mode));
        if (rows) CB(cublasLtMatrixLayoutSetAttribute(lay[i], CUBLASLT_MATRIX_LAYOUT_ORDER, &order, sizeof order));
    }
}

/* Times D = epilogue(A B + beta C) with cuBLASLt's first algorithm for
 * `desc` and the layouts lay[4] (A, B, C, D), which it then destroys:
 * microseconds per launch, or -1 (said on stderr, naming `what`) when
 * cuBLASLt offers no algorithm or refuses to run it. */
static double time_lt(ctx_t *c, const layer_t *l, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t lay[4],
                      const void *a, const void *b, const void *cin, void *d, const char *what)
{
    cublasLtMatmulPreference_t pref;
    CB(cublasLtMatmulPreferenceCreate(&pref));
    CB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &c->workspace_bytes,
                                            sizeof c->workspace_bytes));
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(c->lt, desc, lay[0], lay[1], lay[2], lay[3], pref, 1, &result, &found);
    if (st == CUBLAS_STATUS_SUCCESS && found == 0) st = CUBLAS_STATUS_NOT_SUPPORTED;
    float one = 1.0f, beta = l->residual ? 1.0f : 0.0f;
    for (int i = -3; i < REPS && st == CUBLAS_STATUS_SUCCESS; i++) {
        if (i == 0) CK(cudaEventRecord(c->e0, c->stream));
        st = cublasLtMatmul(c->lt, desc, &one, a, lay[0], b, lay[1], &beta, cin, lay[2], d, lay[3], &result.algo,
                            c->workspace, c->workspace_bytes, c->stream);
    }
    double us = -1;
    if (st == CUBLAS_STATUS_SUCCESS) us = elapsed_us(c);
    else fprintf(stderr, "conv_layouts: %s: cuBLASLt status %d (m %d p %d k %d)\n", what, (int)st, l->m, l->p, l->k);
    cublasLtMatmulPreferenceDestroy(pref);
    for (int i = 0; i < 4; i++) cublasLtMatrixLayoutDestroy(lay[i]);
    cublasLtMatmulDescDestroy(desc);
    return us;
}

/* cuBLASLt, pointer arrays, bias (unless NULL) + Relu (+ residual as C)
 * fused, NHWC (rows false) or NCHW as row-major layouts (rows true):
 * returns microseconds per launch, or -1 when no algorithm is offered. */
static double time_lt_wave(ctx_t *c, const precision_t *pr, const layer_t *l, int R, void **dA, void **dB,
                           void **dC, void **dD, const void *bias, bool rows)
{
    int64_t m = l->m, p = l->p, k = l->k, p8 = (p + 7) / 8 * 8;
    /* row-major: W M x K (ld K), col K x P (ld p8), C and D M x P (ld p8);
     * column-major: W^T K x M (transposed), col K x P, C and D M x P */
    const int64_t row_major[4][3] = {{m, k, k}, {k, p, p8}, {m, p, p8}, {m, p, p8}};
    const int64_t col_major[4][3] = {{k, m, k}, {k, p, k}, {m, p, m}, {m, p, m}};
    cublasLtMatrixLayout_t lay[4];
    lt_layouts(pr, R, rows ? row_major : col_major, NULL, rows, lay);
    cublasLtMatmulDesc_t desc = lt_desc(pr, l, rows ? CUBLAS_OP_N : CUBLAS_OP_T, bias, l->m);
    return time_lt(c, l, desc, lay, dA, dB, dC, dD, rows ? "pointer arrays, row-major" : "pointer arrays");
}

/* Every tenant with the same weights (W's stride 0), as the backend's
 * strided path runs it (lt false: cublasGemmStridedBatchedEx, C^T = col^T
 * W^T), or through cuBLASLt on NCHW planes as row-major layouts with the
 * bias, Relu and residual fused (lt true; -1 when no algorithm is
 * offered). Columns, C and residual are `in` and `outs` elements apart. */
static double time_shared(ctx_t *c, const precision_t *pr, const layer_t *l, int R, bool lt, const char *act,
                          const char *wts, const char *res, char *out, size_t in, size_t outs, const float *bias)
{
    if (!lt) {
        float one = 1.0f, zero = 0.0f;
        for (int i = -3; i < REPS; i++) {
            if (i == 0) CK(cudaEventRecord(c->e0, c->stream));
            CB(cublasGemmStridedBatchedEx(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, l->p, l->m, l->k, &one, act, pr->type,
                                          l->p, (long long)in, wts, pr->type, l->k, 0, &zero, out, pr->type, l->p,
                                          (long long)outs, R, pr->compute, CUBLAS_GEMM_DEFAULT));
        }
        return elapsed_us(c);
    }
    int64_t m = l->m, p = l->p, k = l->k;
    /* row-major: W M x K (ld K, stride 0), col K x P (ld P), C and D M x P (ld P) */
    const int64_t shape[4][3] = {{m, k, k}, {k, p, p}, {m, p, p}, {m, p, p}};
    const int64_t strides[4] = {0, (int64_t)in, (int64_t)outs, (int64_t)outs};
    cublasLtMatrixLayout_t lay[4];
    lt_layouts(pr, R, shape, strides, true, lay);
    cublasLtMatmulDesc_t desc = lt_desc(pr, l, CUBLAS_OP_N, bias, 0);
    return time_lt(c, l, desc, lay, wts, act, l->residual ? (const void *)res : (const void *)out, out,
                   "shared weights, strided");
}

static double time_gemm(ctx_t *c, const precision_t *pr, const layer_t *l, int R, int way, void **dA, void **dB,
                        void **dC)
{
    float one = 1.0f, zero = 0.0f;
    int ld = way == NCHW_PAD ? (l->p + 7) / 8 * 8 : l->p;
    for (int i = -3; i < REPS; i++) {
        if (i == 0) CK(cudaEventRecord(c->e0, c->stream));
        if (way == NHWC)
            CB(cublasGemmBatchedEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, l->m, l->p, l->k, &one,
                                   (const void *const *)dB, pr->type, l->k, (const void *const *)dA, pr->type, l->k,
                                   &zero, dC, pr->type, l->m, R, pr->compute, CUBLAS_GEMM_DEFAULT));
        else if (way == NHWC_TT)
            CB(cublasGemmBatchedEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_T, l->m, l->p, l->k, &one,
                                   (const void *const *)dB, pr->type, l->k, (const void *const *)dA, pr->type, l->p,
                                   &zero, dC, pr->type, l->m, R, pr->compute, CUBLAS_GEMM_DEFAULT));
        else
            CB(cublasGemmBatchedEx(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, l->p, l->m, l->k, &one,
                                   (const void *const *)dA, pr->type, ld, (const void *const *)dB, pr->type, l->k,
                                   &zero, dC, pr->type, ld, R, pr->compute, CUBLAS_GEMM_DEFAULT));
    }
    return elapsed_us(c);
}

static double time_epilogue(ctx_t *c, const precision_t *pr, const layer_t *l, int R, void *y, const void *r,
                            const float *bias)
{
    size_t n = (size_t)R * l->m * l->p;
    unsigned blocks = (unsigned)((n + 255) / 256);
    for (int i = -3; i < REPS; i++) {
        if (i == 0) CK(cudaEventRecord(c->e0, c->stream));
        if (pr->half)
            epilogue_kernel<__half><<<blocks, 256, 0, c->stream>>>((__half *)y, l->residual ? (const __half *)r : NULL,
                                                                   bias, l->m * R, l->p, n, l->relu);
        else
            epilogue_kernel<float><<<blocks, 256, 0, c->stream>>>((float *)y, l->residual ? (const float *)r : NULL,
                                                                  bias, l->m * R, l->p, n, l->relu);
        CK(cudaGetLastError());
    }
    return elapsed_us(c);
}

int main(int argc, char **argv)
{
    int R = argc > 1 ? atoi(argv[1]) : 64;
    if (R < 1 || R > 4096) {
        fprintf(stderr, "conv_layouts: R must be 1..4096, got '%s'\nusage: conv_layouts [R] [fp16|fp32|tf32]...\n",
                argv[1]);
        return 2;
    }
    resnet50();
    ctx_t c;
    CB(cublasCreate(&c.blas));
    CB(cublasLtCreate(&c.lt));
    CK(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking));
    CB(cublasSetStream(c.blas, c.stream));
    c.workspace_bytes = 32 << 20;
    CK(cudaMalloc(&c.workspace, c.workspace_bytes));
    CB(cublasSetWorkspace(c.blas, c.workspace, c.workspace_bytes));
    CK(cudaEventCreate(&c.e0));
    CK(cudaEventCreate(&c.e1));
    printf("precision,R,layer,m,p,k,residual,nchw_us,nchw_pad_us,nhwc_us,nhwc_tt_us,lt_fused_us,lt_rows_us,lt_relu_us,shared_us,shared_lt_us,epilogue_us\n");
    int nwant = argc > 2 ? argc - 2 : 1;
    for (int a = 0; a < nwant; a++) {
        const char *want = argc > 2 ? argv[2 + a] : "fp16";
        const precision_t *pr = NULL;
        for (size_t i = 0; i < sizeof precisions / sizeof *precisions; i++)
            if (!strcmp(precisions[i].name, want)) pr = &precisions[i];
        if (!pr) {
            fprintf(stderr, "conv_layouts: unknown precision '%s' (fp16, fp32 or tf32)\n", want);
            return 2;
        }
        size_t es = pr->half ? 2 : 4, max_in = 0, max_out = 0, max_w = 0;
        for (int i = 0; i < nlayers; i++) {
            const layer_t *l = &layers[i];
            size_t p8 = (size_t)(l->p + 7) / 8 * 8;
            if ((size_t)l->k * p8 > max_in) max_in = (size_t)l->k * p8;
            if ((size_t)l->m * p8 > max_out) max_out = (size_t)l->m * p8;
            if ((size_t)l->m * l->k > max_w) max_w = (size_t)l->m * l->k;
        }
        /* Each tenant its own weights (one buffer per tenant, as loaded),
         * columns, output and residual. */
        char *act, *out, *res, *wts;
        float *bias;
        CK(cudaMalloc(&act, max_in * es * R));
        CK(cudaMalloc(&out, max_out * es * R));
        CK(cudaMalloc(&res, max_out * es * R));
        CK(cudaMalloc(&wts, max_w * es * R));
        CK(cudaMalloc(&bias, sizeof(float) * 2048 * R));
        fill(act, max_in * R, pr->half);
        fill(res, max_out * R, pr->half);
        fill(wts, max_w * R, pr->half);
        fill(bias, 2048 * (size_t)R, 0);
        void **host = (void **)malloc(4 * sizeof(void *) * R), **dev;
        CK(cudaMalloc(&dev, 4 * sizeof(void *) * R));
        double sums[NWAYS] = {0};
        int lt_missing = 0, rows_missing = 0, relu_missing = 0, shared_missing = 0;
        for (int i = 0; i < nlayers; i++) {
            const layer_t *l = &layers[i];
            for (int r = 0; r < R; r++) {
                host[r] = act + (size_t)r * max_in * es;
                host[R + r] = wts + (size_t)r * max_w * es;
                host[2 * R + r] = l->residual ? res + (size_t)r * max_out * es : out + (size_t)r * max_out * es;
                host[3 * R + r] = out + (size_t)r * max_out * es;
            }
            CK(cudaMemcpy(dev, host, 4 * sizeof(void *) * R, cudaMemcpyHostToDevice));
            double t[NWAYS];
            for (int w = NCHW; w <= NHWC_TT; w++) t[w] = time_gemm(&c, pr, l, R, w, dev, dev + R, dev + 3 * R);
            t[LT_FUSED] = time_lt_wave(&c, pr, l, R, dev, dev + R, dev + 2 * R, dev + 3 * R, bias, false);
            t[LT_ROWS] = time_lt_wave(&c, pr, l, R, dev + R, dev, dev + 2 * R, dev + 3 * R, bias, true);
            t[LT_RELU] = time_lt_wave(&c, pr, l, R, dev, dev + R, dev + 2 * R, dev + 3 * R, NULL, false);
            t[SHARED] = time_shared(&c, pr, l, R, false, act, wts, res, out, max_in, max_out, bias);
            t[SHARED_LT] = time_shared(&c, pr, l, R, true, act, wts, res, out, max_in, max_out, bias);
            t[EPILOGUE] = time_epilogue(&c, pr, l, R, out, res, bias);
            printf("%s,%d,%d,%d,%d,%d,%d", pr->name, R, i, l->m, l->p, l->k, l->residual);
            for (int w = 0; w < NWAYS; w++) printf(",%.1f", t[w]);
            printf("\n");
            for (int w = 0; w < NWAYS; w++) sums[w] += t[w] < 0 ? 0 : t[w];
            if (t[LT_FUSED] < 0) lt_missing++;
            if (t[LT_ROWS] < 0) rows_missing++;
            if (t[LT_RELU] < 0) relu_missing++;
            if (t[SHARED_LT] < 0) shared_missing++;
        }
        printf("# %s R=%d sums over %d layers (us): ", pr->name, R, nlayers);
        for (int w = 0; w < NWAYS; w++) printf("%s %.0f%s", way_names[w], sums[w], w + 1 < NWAYS ? ", " : "\n");
        printf("# %s R=%d: nchw + epilogue %.0f us, nchw_pad + epilogue %.0f us, against lt_fused %.0f us, "
               "lt_rows %.0f us and lt_relu %.0f us (layers without a cuBLASLt algorithm: %d, %d and %d)\n",
               pr->name, R, sums[NCHW] + sums[EPILOGUE], sums[NCHW_PAD] + sums[EPILOGUE], sums[LT_FUSED],
               sums[LT_ROWS], sums[LT_RELU], lt_missing, rows_missing, relu_missing);
        printf("# %s R=%d, shared weights: strided + epilogue %.0f us against cuBLASLt fused %.0f us (%d layers "
               "without an algorithm)\n",
               pr->name, R, sums[SHARED] + sums[EPILOGUE], sums[SHARED_LT], shared_missing);
        fflush(stdout);
        CK(cudaFree(act));
        CK(cudaFree(out));
        CK(cudaFree(res));
        CK(cudaFree(wts));
        CK(cudaFree(bias));
        CK(cudaFree(dev));
        free(host);
    }
    return 0;
}
