/*
 * test_shared.c: tenants that share layers (issue 14, DESIGN.md "Shared
 * layers"): the weight store keeps each identical tensor once, waves of
 * tenants with shared and own layers give each tenant what it gets alone,
 * unloading one tenant never frees what another reads, a hash collision
 * never shares different tensors, and memory is charged once, split among
 * the tenants that share it.
 *
 * Built twice, as test_backend_ops is: test_shared runs everything on the
 * CPU backend; test_gpu_shared (CV_TEST_SHARED_CUDA, label gpu) on the CUDA
 * backend, each wave also against the CPU, plus the super-kernel cache over
 * waves whose sharing changes. It skips (77) without a GPU.
 *
 * The tenants are one small CNN family written as ONNX files here: a stem
 * (Conv, BatchNorm folded into it at load, Relu), a stage (Conv with a
 * residual Add, Relu, depthwise Conv) and a head (GlobalAveragePool,
 * Flatten, Gemm), each part's weights from a seed of its own, so that a
 * tenant shares exactly the parts whose seeds it has in common.
 */
#include "graphs.h"
#include "onnxmodel.h"

#include "ir/passes.h"
#include "onnx/onnx_loader.h"
#include "runtime/runtime_internal.h"

#include <stdio.h>
#include <string.h>

#ifdef CV_TEST_SHARED_CUDA
#define DEVICE CV_DEVICE_CUDA
#else
#define DEVICE CV_DEVICE_CPU
#endif

#define CLASSES 5
#define CHANNELS 8
#define SIDE 8

/* ---- the family's files ---------------------------------------------------------- */

typedef struct seeds {
    uint64_t stem, stage, head;
} seeds_t;

/* FP32 values in [-scale + offset, scale + offset) from a seed. */
static Onnx__TensorProto *seeded(const char *name, int ndim, const int64_t *dims, uint64_t seed, float scale,
                                 float offset)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= dims[d];
    float *v = cv_test_onnx_alloc(sizeof(float) * (size_t)n);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 12345;
    for (int64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = offset + scale * ((float)((double)(x >> 40) / (double)(1ull << 24)) * 2 - 1);
    }
    Onnx__TensorProto *t = cv_test_onnx_tensor(name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims);
    cv_test_onnx_tensor_raw(t, v, sizeof(float) * (size_t)n);
    return t;
}

/* Writes the family's model with these seeds to `file`; returns its path
 * (valid for the next 7 calls of cv_test_tmp_path). */
static const char *write_tenant(const char *file, seeds_t s)
{
    const int32_t f32 = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    const int64_t c = CHANNELS;
    Onnx__ModelProto *m = cv_test_onnx_model(17);
    cv_test_onnx_input(m, "x", f32, 4, CV_TEST_DIMS(-1, 3, SIDE, SIDE));
    cv_test_onnx_initializer(m, seeded("w1", 4, CV_TEST_DIMS(c, 3, 3, 3), s.stem, 0.4f, 0));
    cv_test_onnx_initializer(m, seeded("b1", 1, CV_TEST_DIMS(c), s.stem + 1, 0.1f, 0));
    cv_test_onnx_initializer(m, seeded("bn_scale", 1, CV_TEST_DIMS(c), s.stem + 2, 0.2f, 1));
    cv_test_onnx_initializer(m, seeded("bn_bias", 1, CV_TEST_DIMS(c), s.stem + 3, 0.1f, 0));
    cv_test_onnx_initializer(m, seeded("bn_mean", 1, CV_TEST_DIMS(c), s.stem + 4, 0.1f, 0));
    cv_test_onnx_initializer(m, seeded("bn_var", 1, CV_TEST_DIMS(c), s.stem + 5, 0.3f, 1));
    cv_test_onnx_initializer(m, seeded("w2", 4, CV_TEST_DIMS(c, c, 3, 3), s.stage, 0.2f, 0));
    cv_test_onnx_initializer(m, seeded("b2", 1, CV_TEST_DIMS(c), s.stage + 1, 0.1f, 0));
    cv_test_onnx_initializer(m, seeded("w3", 4, CV_TEST_DIMS(c, 1, 3, 3), s.stage + 2, 0.4f, 0));
    cv_test_onnx_initializer(m, seeded("b3", 1, CV_TEST_DIMS(c), s.stage + 3, 0.1f, 0));
    cv_test_onnx_initializer(m, seeded("wf", 2, CV_TEST_DIMS(CLASSES, c), s.head, 0.5f, 0));
    cv_test_onnx_initializer(m, seeded("bf", 1, CV_TEST_DIMS(CLASSES), s.head + 1, 0.1f, 0));
    Onnx__NodeProto *n = cv_test_onnx_node(m, "Conv", "stem", CV_TEST_NAMES("x", "w1", "b1"), CV_TEST_NAMES("c1"));
    cv_test_onnx_attr_ints(n, "pads", CV_TEST_DIMS(1, 1, 1, 1), 4);
    cv_test_onnx_node(m, "BatchNormalization", "bn",
                      CV_TEST_NAMES("c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"), CV_TEST_NAMES("n1"));
    cv_test_onnx_node(m, "Relu", "r1", CV_TEST_NAMES("n1"), CV_TEST_NAMES("r1"));
    n = cv_test_onnx_node(m, "Conv", "stage", CV_TEST_NAMES("r1", "w2", "b2"), CV_TEST_NAMES("c2"));
    cv_test_onnx_attr_ints(n, "pads", CV_TEST_DIMS(1, 1, 1, 1), 4);
    cv_test_onnx_node(m, "Add", "skip", CV_TEST_NAMES("c2", "r1"), CV_TEST_NAMES("a2"));
    cv_test_onnx_node(m, "Relu", "r2", CV_TEST_NAMES("a2"), CV_TEST_NAMES("r2"));
    n = cv_test_onnx_node(m, "Conv", "depthwise", CV_TEST_NAMES("r2", "w3", "b3"), CV_TEST_NAMES("c3"));
    cv_test_onnx_attr_ints(n, "pads", CV_TEST_DIMS(1, 1, 1, 1), 4);
    cv_test_onnx_attr_int(n, "group", c);
    cv_test_onnx_node(m, "GlobalAveragePool", "pool", CV_TEST_NAMES("c3"), CV_TEST_NAMES("p"));
    cv_test_onnx_node(m, "Flatten", "flat", CV_TEST_NAMES("p"), CV_TEST_NAMES("f"));
    n = cv_test_onnx_node(m, "Gemm", "head", CV_TEST_NAMES("f", "wf", "bf"), CV_TEST_NAMES("y"));
    cv_test_onnx_attr_int(n, "transB", 1);
    cv_test_onnx_output(m, "y", f32, 2, CV_TEST_DIMS(-1, CLASSES));
    return cv_test_onnx_write(m, file);
}

/* The tenants of these tests: what each has of its own. */
enum { BASE, HEAD1, HEAD2, STAGE1, COPY, DISTINCT, NKINDS };
static const seeds_t kinds[NKINDS] = {
    [BASE] = {100, 200, 300},     /* the backbone everyone but DISTINCT has */
    [HEAD1] = {100, 200, 310},    /* its own classifier */
    [HEAD2] = {100, 200, 320},
    [STAGE1] = {100, 210, 330},   /* its own stage and classifier */
    [COPY] = {100, 200, 300},     /* identical to BASE: shares everything */
    [DISTINCT] = {110, 220, 340}, /* shares nothing */
};
static const char *kind_names[NKINDS] = {"base", "head1", "head2", "stage1", "copy", "distinct"};
/* Weight tensors of one tenant after load: the stem's Conv with BatchNorm
 * folded in (2), the stage (4), the head (2). */
#define TENSORS 8

static const char *tenant_file(int kind)
{
    char file[64];
    snprintf(file, sizeof file, "shared_%s.onnx", kind_names[kind]);
    return write_tenant(file, kinds[kind]);
}

/* ---- runtimes ---------------------------------------------------------------------- */

static cv_runtime_t *make_runtime(bool sharing)
{
    cv_runtime_t *rt;
    cv_err_t err;
    cv_runtime_config_t config = {.device = DEVICE, .threads = 2, .no_profile = true,
                                  .no_weight_sharing = !sharing};
    if (cv_runtime_create(&config, &rt, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    return rt;
}

static cv_tenant_t *load(cv_runtime_t *rt, int kind, const char *name, cv_precision_t precision)
{
    cv_tenant_t *t;
    cv_err_t err;
    if (cv_tenant_load(rt, name, tenant_file(kind), precision, &t, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    return t;
}

static cv_tensor_t input(int64_t rows, uint64_t seed)
{
    cv_tensor_t x;
    cv_shape_t s = CV_TEST_SHAPE(rows, 3, SIDE, SIDE);
    assert_int_equal(cv_tensor_alloc(&x, CV_DTYPE_FP32, &s), CV_STATUS_OK);
    cv_test_fill_random(&x, seed);
    return x;
}

static double tolerance(cv_precision_t p) { return p == CV_PRECISION_FP32 ? 1e-5 : 2e-2; }
/* The same computation twice: equal bits on the CPU; on the GPU within a
 * hair, should a cuBLAS algorithm not be deterministic. */
static const double SAME = DEVICE == CV_DEVICE_CPU ? 0 : 1e-6;

/* Runs the tenants as one wave (slice s: ts[s], rows[s] rows) and each
 * alone, and checks that every slice gets what its tenant gets alone. */
static void check_wave(cv_runtime_t *rt, cv_tenant_t *const *ts, const int64_t *rows, int n, cv_precision_t p)
{
    cv_err_t err;
    cv_tensor_t in[16], alone[16], waved[16];
    cv_slice_io_t slices[16];
    assert_true(n <= 16);
    for (int s = 0; s < n; s++) {
        in[s] = input(rows[s], 7 + (uint64_t)s);
        if (cv_infer(rt, ts[s], &in[s], &alone[s], &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
        slices[s] = (cv_slice_io_t){ts[s], &in[s], &waved[s]};
    }
    if (cv_wave_run(rt, slices, n, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    for (int s = 0; s < n; s++) {
        char what[96];
        snprintf(what, sizeof what, "slice %d (%s) in a wave of %d against alone", s, cv_tenant_name(ts[s]), n);
        cv_test_compare(what, &waved[s], &alone[s], tolerance(p), tolerance(p) * 1e-2);
        cv_tensor_free(&in[s]);
        cv_tensor_free(&alone[s]);
        cv_tensor_free(&waved[s]);
    }
}

/* ---- the hash, and collisions ------------------------------------------------------ */

static void test_hash_reads_every_byte(void **state)
{
    unsigned char a[103], b[103];
    for (size_t i = 0; i < sizeof a; i++) a[i] = b[i] = (unsigned char)(i * 37 + 1);
    assert_true(cv_weights_hash(a, sizeof a) == cv_weights_hash(b, sizeof b));
    /* A change anywhere (the 32-byte blocks, the tail) and a change of
     * length change the hash. */
    for (size_t i = 0; i < sizeof a; i += 17) {
        b[i] ^= 1;
        assert_true(cv_weights_hash(a, sizeof a) != cv_weights_hash(b, sizeof b));
        b[i] ^= 1;
    }
    assert_true(cv_weights_hash(a, sizeof a) != cv_weights_hash(a, sizeof a - 1));
}

/* The half conversion of weights at load (cv_backend_to_half) equals the
 * scalar reference bit for bit, whichever way it runs (F16C eight at a
 * time where the CPU has it): over a sweep of FP32 bit patterns with both
 * signs, the edges of FP16's range (largest finite, the halfway points
 * that round to infinity or not, subnormals, zero), infinities and NaNs
 * (a NaN in a block of eight sends the block through the scalar path),
 * at lengths that leave a tail of 1-7. */
static void test_half_conversion(void **state)
{
    enum { N = 70003 };
    float *f = cv_malloc(sizeof(float) * N);
    uint16_t *got = cv_malloc(sizeof(uint16_t) * N), *want = cv_malloc(sizeof(uint16_t) * N);
    assert_true(f && got && want);
    const uint32_t edges[] = {0x00000000, 0x80000000, 0x00000001, 0x33800000, 0x33000001, 0x387fe000, 0x38800000,
                              0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001, 0x7f7fffff, 0x7f800000, 0xff800000,
                              0x7fc00000, 0x7f800001, 0xffc12345, 0x3f800000, 0x3f801000, 0x3f803000, 0x3f801001};
    for (int i = 0; i < N; i++) {
        uint32_t bits = i < (int)(sizeof edges / sizeof edges[0]) ? edges[i] : (uint32_t)i * 61357u;
        memcpy(&f[i], &bits, sizeof bits);
    }
    const cv_precision_t ps[] = {CV_PRECISION_FP16, CV_PRECISION_BF16};
    for (int k = 0; k < 2; k++)
        for (int n = N - 7; n <= N; n += 3) {
            cv_backend_to_half(f, n, ps[k], got);
            cv_backend_to_half_scalar(f, n, ps[k], want);
            for (int i = 0; i < n; i++)
                if (got[i] != want[i])
                    fail_msg("%s of 0x%08x: 0x%04x, expected 0x%04x", k ? "bf16" : "fp16",
                             ((const uint32_t *)(const void *)f)[i], got[i], want[i]);
        }
    if (!cv_backend_to_half_vectorized()) printf("  (this CPU has no F16C: both ways ran the scalar path)\n");
    cv_free(f);
    cv_free(got);
    cv_free(want);
}

/* Which weights an FP16/BF16 tenant may keep as their half copy alone
 * (cv_backend_half_only_weights): those that only a Conv of one group, a
 * Gemm or a MatMul with a 2-D B reads as input 1; not a depthwise Conv's,
 * a 1-to-1-channel Conv's (both the depthwise kernel's, in FP32), a
 * batched MatMul B, a weight another op reads too, a graph output, a bias
 * (no half copy at all). */
static void test_half_only_choice(void **state)
{
    cv_graph_t *g = cv_test_graph_new("half-only", 17, false);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 4, 6, 6));
    int y = cv_test_graph_input(g, "y", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 1, 5, 5));
    int z = cv_test_graph_input(g, "z", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 4));
    int w1 = cv_test_graph_weight(g, "w1", CV_TEST_SHAPE(4, 4, 3, 3), 1);
    int b1 = cv_test_graph_weight(g, "b1", CV_TEST_SHAPE(4), 2);
    int w2 = cv_test_graph_weight(g, "w2", CV_TEST_SHAPE(4, 1, 3, 3), 3);
    int w3 = cv_test_graph_weight(g, "w3", CV_TEST_SHAPE(4, 4, 1, 1), 4);
    int w4 = cv_test_graph_weight(g, "w4", CV_TEST_SHAPE(5, 4), 5);
    int w5 = cv_test_graph_weight(g, "w5", CV_TEST_SHAPE(5, 3), 6);
    int w6 = cv_test_graph_weight(g, "w6", CV_TEST_SHAPE(2, 5, 3), 7);
    int w7 = cv_test_graph_weight(g, "w7", CV_TEST_SHAPE(1, 1, 3, 3), 8);
    int w8 = cv_test_graph_weight(g, "w8", CV_TEST_SHAPE(5, 4), 9);
    int c1 = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_CONV, (int[]){x, w1, b1}, 3, "c1"));
    int dwn = cv_test_graph_node(g, CV_OP_CONV, (int[]){c1, w2}, 2, "dw");
    cv_test_graph_attr_int(g, dwn, "group", 4);
    int c3 = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_CONV, (int[]){cv_test_graph_out(g, dwn), w3}, 2, "c3"));
    int add = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_ADD, (int[]){c3, w3}, 2, "add"));
    int c7 = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_CONV, (int[]){y, w7}, 2, "c7"));
    int fcn = cv_test_graph_node(g, CV_OP_GEMM, (int[]){z, w4}, 2, "fc");
    cv_test_graph_attr_int(g, fcn, "transB", 1);
    int fc = cv_test_graph_out(g, fcn);
    int mm = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_MATMUL, (int[]){fc, w5}, 2, "mm"));
    int mmb = cv_test_graph_out(g, cv_test_graph_node(g, CV_OP_MATMUL, (int[]){fc, w6}, 2, "mmb"));
    int fc8n = cv_test_graph_node(g, CV_OP_GEMM, (int[]){z, w8}, 2, "fc8");
    cv_test_graph_attr_int(g, fc8n, "transB", 1);
    const int outs[] = {add, c7, mm, mmb, cv_test_graph_out(g, fc8n), w8};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) cv_test_graph_output(g, outs[i]);

    bool *needs = cv_calloc((size_t)g->nvalues, sizeof(bool)), *only = cv_calloc((size_t)g->nvalues, sizeof(bool));
    assert_true(needs && only);
    cv_backend_half_weights(g, needs);
    cv_backend_half_only_weights(g, only);
    const struct { int v; bool needs, only; const char *why; } want[] = {
        {w1, true, true, "a Conv of one group"}, {b1, false, false, "a bias"},
        {w2, true, false, "a depthwise Conv"},   {w3, true, false, "a Conv's weight an Add reads too"},
        {w4, true, true, "a Gemm's B"},          {w5, true, true, "a MatMul's 2-D B"},
        {w6, true, false, "a batched MatMul B"}, {w7, true, false, "a 1-to-1-channel Conv"},
        {w8, true, false, "a graph output"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (needs[want[i].v] != want[i].needs || only[want[i].v] != want[i].only)
            fail_msg("%s: half copy %d, half copy only %d; expected %d, %d", want[i].why, needs[want[i].v],
                     only[want[i].v], want[i].needs, want[i].only);
    /* What a device holds of these constants (cv_model_probe's estimate):
     * 1176 bytes in FP32 (294 floats), the half copies of the 290 weights
     * above (580 bytes) beside them, or in place of the FP32 copies of w1,
     * w4 and w5 (716 bytes) where the device keeps half copies alone. */
    size_t bytes;
    assert_int_equal(cv_backend_constants_bytes(g, CV_PRECISION_FP32, true, &bytes), CV_STATUS_OK);
    assert_int_equal(bytes, 1176);
    assert_int_equal(cv_backend_constants_bytes(g, CV_PRECISION_TF32, true, &bytes), CV_STATUS_OK);
    assert_int_equal(bytes, 1176);
    assert_int_equal(cv_backend_constants_bytes(g, CV_PRECISION_FP16, false, &bytes), CV_STATUS_OK);
    assert_int_equal(bytes, 1176 + 580);
    assert_int_equal(cv_backend_constants_bytes(g, CV_PRECISION_BF16, true, &bytes), CV_STATUS_OK);
    assert_int_equal(bytes, 1176 + 580 - 716);
    cv_free(needs);
    cv_free(only);
    cv_graph_destroy(g);
}

static uint64_t collide(const void *data, size_t bytes) { return 42; }

/* Every tensor hashes alike: only the comparison of their bytes keeps
 * tenants that differ apart. The stem and stage are shared (equal bytes),
 * the classifiers are not (same hash, same shape, other bytes), and a
 * tenant with the classifiers' bytes in another shape shares nothing of
 * them either. */
static void test_collision_is_not_sharing(void **state)
{
    cv_runtime_t *rt = make_runtime(true);
    cv_weights_set_hash(&rt->weights, collide);
    cv_tenant_t *a = load(rt, BASE, "a", CV_PRECISION_FP32);
    cv_tenant_t *b = load(rt, HEAD1, "b", CV_PRECISION_FP32);
    cv_tenant_memory_t ma, mb;
    cv_tenant_memory(a, &ma);
    cv_tenant_memory(b, &mb);
    assert_int_equal(ma.weights, TENSORS);
    assert_int_equal(ma.shared_weights, TENSORS - 2);
    assert_int_equal(mb.shared_weights, TENSORS - 2);
    cv_runtime_stats_t st;
    cv_runtime_stats(rt, &st);
    assert_int_equal(st.weight_tensors, TENSORS + 2);
    assert_int_equal(st.shared_weight_tensors, TENSORS - 2);

    /* Each computes with its own classifier: as on a runtime that shares
     * nothing. */
    cv_runtime_t *apart = make_runtime(false);
    cv_tenant_t *b_apart = load(apart, HEAD1, "b", CV_PRECISION_FP32);
    cv_tensor_t x = input(2, 3), y, y_apart, y_a;
    cv_err_t err;
    assert_int_equal(cv_infer(rt, b, &x, &y, &err), CV_STATUS_OK);
    assert_int_equal(cv_infer(apart, b_apart, &x, &y_apart, &err), CV_STATUS_OK);
    assert_int_equal(cv_infer(rt, a, &x, &y_a, &err), CV_STATUS_OK);
    cv_test_compare("HEAD1 with colliding hashes", &y, &y_apart, SAME, 0);
    assert_true(cv_test_rel_diff(&y, &y_a) > 1e-3);
    cv_tensor_free(&x);
    cv_tensor_free(&y);
    cv_tensor_free(&y_apart);
    cv_tensor_free(&y_a);
    cv_runtime_destroy(apart);
    cv_runtime_destroy(rt);
}

/* The same bytes in another shape, or another tensor of the same shape
 * and hash: never one entry (the store itself, on the CPU backend). */
static void test_store_compares_shape_and_bytes(void **state)
{
    cv_backend_t *be;
    cv_err_t err;
    assert_int_equal(cv_backend_cpu_create(1, &be, &err), CV_STATUS_OK);
    cv_weight_store_t store;
    cv_weights_init(&store, true);
    cv_weights_set_hash(&store, collide);
    const float values[6] = {1, 2, 3, 4, 5, 6}, other[6] = {1, 2, 3, 4, 5, 7};
    cv_graph_t *g[4];
    cv_tenant_weights_t tw[4];
    const cv_shape_t shapes[4] = {CV_TEST_SHAPE(2, 3), CV_TEST_SHAPE(2, 3), CV_TEST_SHAPE(3, 2),
                                  CV_TEST_SHAPE(2, 3)};
    const float *data[4] = {values, values, values, other};
    for (int i = 0; i < 4; i++) {
        g[i] = cv_test_graph_new("store", 17, true);
        cv_test_graph_const(g[i], "w", cv_test_tensor(CV_DTYPE_FP32, shapes[i], data[i]), true);
        assert_int_equal(cv_weights_intern(&store, be, g[i], CV_PRECISION_FP32, &tw[i], &err), CV_STATUS_OK);
    }
    assert_ptr_equal(tw[0].of_value[0], tw[1].of_value[0]);     /* equal: one entry */
    assert_ptr_equal(g[0]->values[0].constant->data, g[1]->values[0].constant->data);
    assert_ptr_not_equal(tw[0].of_value[0], tw[2].of_value[0]); /* another shape */
    assert_ptr_not_equal(tw[0].of_value[0], tw[3].of_value[0]); /* other bytes */
    assert_true(memcmp(g[3]->values[0].constant->data, other, sizeof other) == 0);
    assert_int_equal(store.count, 3);
    assert_int_equal(store.shared, 1);
    /* Released in another order than made: the entry goes with its last tenant. */
    cv_weights_release(&store, be, g[0], &tw[0], false);
    assert_int_equal(store.count, 3);
    assert_true(memcmp(g[1]->values[0].constant->data, values, sizeof values) == 0);
    for (int i = 1; i < 4; i++) cv_weights_release(&store, be, g[i], &tw[i], false);
    assert_int_equal(store.count, 0);
    for (int i = 0; i < 4; i++) cv_graph_destroy(g[i]);
    cv_weights_destroy(&store);
    be->iface->destroy(be);
}

/* ---- memory --------------------------------------------------------------------- */

/* Three tenants with one backbone: each tensor once, each tenant charged a
 * third of the backbone and all of its classifier; the tenants' charges
 * add up to what the store holds. Without sharing, three of everything. */
static void test_memory_split_among_tenants(void **state)
{
    cv_runtime_t *rt = make_runtime(true);
    cv_tenant_t *t[3] = {load(rt, BASE, "a", CV_PRECISION_FP32), load(rt, HEAD1, "b", CV_PRECISION_FP32),
                         load(rt, HEAD2, "c", CV_PRECISION_FP32)};
    cv_runtime_stats_t st;
    cv_runtime_stats(rt, &st);
    assert_int_equal(st.weight_tensors, TENSORS + 4);
    assert_int_equal(st.shared_weight_tensors, TENSORS - 2);
    assert_true(st.weight_saved_bytes > 0);
    size_t host_sum = 0, device_sum = 0, shared_sum = 0;
    cv_tenant_memory_t m[3];
    for (int i = 0; i < 3; i++) {
        cv_tenant_memory(t[i], &m[i]);
        assert_int_equal(m[i].weights, TENSORS);
        assert_int_equal(m[i].shared_weights, TENSORS - 2);
        assert_true(m[i].shared_tensor_bytes > 0);
        assert_true(m[i].hash_ms >= 0);
        assert_int_equal(cv_tenant_bytes(t[i]), m[i].host_own + m[i].host_shared);
        assert_int_equal(cv_tenant_device_bytes(t[i]), m[i].device_own + m[i].device_shared);
        host_sum += m[i].host_shared;
        device_sum += m[i].device_shared;
        shared_sum += DEVICE == CV_DEVICE_CPU ? m[i].host_shared : m[i].device_shared;
    }
    /* A third of every shared tensor each (rounded down per tensor). */
    assert_true(shared_sum <= m[0].shared_tensor_bytes && shared_sum + 3 * TENSORS >= m[0].shared_tensor_bytes);
    /* The first load stored everything, the others their classifiers. */
    assert_true(m[0].loaded_host_bytes > m[1].loaded_host_bytes && m[1].loaded_host_bytes == m[2].loaded_host_bytes);
    if (DEVICE != CV_DEVICE_CPU)
        assert_true(m[0].loaded_device_bytes > m[1].loaded_device_bytes &&
                    m[1].loaded_device_bytes == m[2].loaded_device_bytes);
    if (DEVICE == CV_DEVICE_CPU) {
        assert_int_equal(device_sum, 0);
        assert_int_equal(st.weight_device_bytes, 0);
    } else {
        /* The stored copies are on the device; the host keeps none of
         * these weights (only Convs and the Gemm read them). */
        assert_int_equal(st.weight_host_bytes, 0);
        assert_true(device_sum > 0 && st.weight_device_bytes >= device_sum);
    }
    (void)host_sum;

    cv_runtime_t *apart = make_runtime(false);
    cv_tenant_t *u[3] = {load(apart, BASE, "a", CV_PRECISION_FP32), load(apart, HEAD1, "b", CV_PRECISION_FP32),
                         load(apart, HEAD2, "c", CV_PRECISION_FP32)};
    cv_runtime_stats_t sa;
    cv_runtime_stats(apart, &sa);
    assert_int_equal(sa.weight_tensors, 3 * TENSORS);
    assert_int_equal(sa.shared_weight_tensors, 0);
    for (int i = 0; i < 3; i++) {
        cv_tenant_memory_t mu;
        cv_tenant_memory(u[i], &mu);
        assert_int_equal(mu.shared_weights, 0);
        assert_true(mu.hash_ms == 0);
        /* Sharing charges a tenant less than a copy of its own. */
        assert_true(cv_tenant_bytes(t[i]) + cv_tenant_device_bytes(t[i]) <
                    cv_tenant_bytes(u[i]) + cv_tenant_device_bytes(u[i]));
    }
    cv_runtime_destroy(apart);
    cv_runtime_destroy(rt);
}

/* ---- waves ---------------------------------------------------------------------- */

static void run_waves(cv_precision_t p)
{
    cv_runtime_t *rt = make_runtime(true);
    cv_tenant_t *t[NKINDS];
    for (int k = 0; k < NKINDS; k++) t[k] = load(rt, k, kind_names[k], p);
    /* Shared backbone, own classifiers; every row one tenant. */
    check_wave(rt, (cv_tenant_t *[]){t[BASE], t[HEAD1], t[HEAD2]}, (int64_t[]){1, 2, 1}, 3, p);
    /* Identical tenants (one model twice, a copy): everything one batch. */
    check_wave(rt, (cv_tenant_t *[]){t[BASE], t[COPY], t[BASE]}, (int64_t[]){2, 1, 3}, 3, p);
    /* Mixed: a tenant that shares nothing between ones that share the
     * stem, one with its own stage, a copy; given in an order that puts
     * sharers apart (the wave orders them). */
    check_wave(rt, (cv_tenant_t *[]){t[HEAD1], t[DISTINCT], t[HEAD2], t[STAGE1], t[COPY], t[BASE]},
               (int64_t[]){1, 2, 1, 3, 1, 2}, 6, p);
    /* Fully distinct tenants: as before sharing. */
    check_wave(rt, (cv_tenant_t *[]){t[DISTINCT], t[BASE]}, (int64_t[]){2, 2}, 2, p);
    cv_runtime_destroy(rt);
}

static void test_waves_equal_alone(void **state) { run_waves(CV_PRECISION_FP32); }

/* Scheduled waves (cv_submit, spacetime): requests of tenants that share
 * a backbone, own stages and nothing, queued together so that waves mix
 * them, the lanes putting sharers next to each other; every answer is
 * what its tenant computes alone, and waves fused tenants. */
static void test_scheduled_waves(void **state)
{
    cv_runtime_t *rt = make_runtime(true);
    enum { N = 48 };
    const int tenant_kinds[] = {BASE, HEAD1, DISTINCT, HEAD2, STAGE1, COPY};
    enum { NT = sizeof tenant_kinds / sizeof tenant_kinds[0] };
    cv_tenant_t *t[NT];
    for (int k = 0; k < NT; k++) t[k] = load(rt, tenant_kinds[k], kind_names[tenant_kinds[k]], CV_PRECISION_FP32);
    cv_request_t *req[N];
    cv_err_t err;
    for (int i = 0; i < N; i++) {
        int64_t rows = 1 + (i % 5 == 0);
        if (cv_request_create(rt, t[i % NT], rows, &req[i], &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
        cv_test_fill_random(cv_request_input(req[i], 0), 100 + (uint64_t)i);
    }
    for (int i = 0; i < N; i++)
        if (cv_submit(rt, req[i], NULL, NULL, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    for (int i = 0; i < N; i++) {
        if (cv_request_wait(req[i], &err) != CV_STATUS_OK) fail_msg("request %d: %s", i, err.msg);
        cv_tensor_t alone;
        if (cv_infer(rt, t[i % NT], cv_request_input(req[i], 0), &alone, &err) != CV_STATUS_OK)
            fail_msg("%s", err.msg);
        char what[64];
        snprintf(what, sizeof what, "scheduled request %d (%s)", i, cv_tenant_name(t[i % NT]));
        cv_test_compare(what, cv_request_output(req[i], 0), &alone, 1e-5, 1e-7);
        cv_tensor_free(&alone);
        cv_request_destroy(req[i]);
    }
    cv_request_stats_t fam;
    assert_int_equal(cv_family_stats(rt, t[0], &fam), CV_STATUS_OK);
    assert_true(fam.fused > 0);
    cv_runtime_destroy(rt);
}

/* ---- unloading ------------------------------------------------------------------- */

/* The tenant whose load stored the backbone goes: the others keep it and
 * compute exactly as before; the family plans anew from another member
 * (a height not planned before); loading the same model again shares
 * again; the last tenant takes everything with it. */
static void test_unload_keeps_shared(void **state)
{
    cv_runtime_t *rt = make_runtime(true);
    cv_tenant_t *a = load(rt, BASE, "a", CV_PRECISION_FP32);
    cv_tenant_t *b = load(rt, HEAD1, "b", CV_PRECISION_FP32);
    cv_tenant_t *c = load(rt, STAGE1, "c", CV_PRECISION_FP32);
    cv_err_t err;
    cv_tensor_t x = input(2, 11), before_b, before_c, after_b, after_c;
    assert_int_equal(cv_infer(rt, b, &x, &before_b, &err), CV_STATUS_OK);
    assert_int_equal(cv_infer(rt, c, &x, &before_c, &err), CV_STATUS_OK);

    cv_tenant_unload(rt, a);
    cv_runtime_stats_t st;
    cv_runtime_stats(rt, &st);
    /* b: stem, stage, head; c adds its stage and head; they share the stem. */
    assert_int_equal(st.weight_tensors, TENSORS + 6);
    assert_int_equal(st.shared_weight_tensors, 2);
    assert_int_equal(cv_infer(rt, b, &x, &after_b, &err), CV_STATUS_OK);
    assert_int_equal(cv_infer(rt, c, &x, &after_c, &err), CV_STATUS_OK);
    cv_test_compare("HEAD1 after BASE went", &after_b, &before_b, SAME, 0);
    cv_test_compare("STAGE1 after BASE went", &after_c, &before_c, SAME, 0);
    cv_tensor_free(&after_b);
    cv_tensor_free(&after_c);
    /* A new height: planned from the family's next representative. */
    check_wave(rt, (cv_tenant_t *[]){b, c}, (int64_t[]){3, 4}, 2, CV_PRECISION_FP32);

    cv_tenant_t *a2 = load(rt, BASE, "a2", CV_PRECISION_FP32);
    cv_tenant_memory_t m;
    cv_tenant_memory(a2, &m);
    assert_int_equal(m.shared_weights, TENSORS - 2); /* b's stem and stage */
    cv_runtime_stats(rt, &st);
    assert_int_equal(st.weight_tensors, TENSORS + 8);
    cv_tenant_unload(rt, b);
    cv_tenant_unload(rt, c);
    assert_int_equal(cv_infer(rt, a2, &x, &after_b, &err), CV_STATUS_OK);
    cv_tensor_free(&after_b);
    cv_tenant_unload(rt, a2);
    cv_runtime_stats(rt, &st);
    assert_int_equal(st.weight_tensors, 0);
    assert_int_equal(st.weight_host_bytes + st.weight_device_bytes, 0);
    assert_int_equal(cv_account_device_bytes(&rt->weights.account), 0);
    cv_tensor_free(&x);
    cv_tensor_free(&before_b);
    cv_tensor_free(&before_c);
    cv_runtime_destroy(rt);
}

/* A load that fails after its weights were interned (out of memory) gives
 * them back: the tenants loaded keep theirs, nothing leaks. */
static void test_failed_load_gives_back(void **state)
{
    cv_runtime_t *rt = make_runtime(true);
    cv_tenant_t *a = load(rt, BASE, "a", CV_PRECISION_FP32);
    cv_runtime_stats_t st;
    const char *path = tenant_file(HEAD1);
    for (long n = 1;; n++) {
        cv_tenant_t *b = NULL;
        cv_err_t err;
        size_t live = cv_alloc_live_bytes();
        cv_alloc_fail_after(n);
        cv_status s = cv_tenant_load(rt, "b", path, CV_PRECISION_FP32, &b, &err);
        cv_alloc_fail_after(0);
        if (s == CV_STATUS_OK) {
            cv_tenant_unload(rt, b);
            break;
        }
        assert_int_equal(s, CV_STATUS_OUT_OF_MEMORY);
        assert_int_equal(cv_alloc_live_bytes(), live);
        cv_runtime_stats(rt, &st);
        assert_int_equal(st.weight_tensors, TENSORS);
    }
    cv_tensor_t x = input(1, 5), y;
    cv_err_t err;
    assert_int_equal(cv_infer(rt, a, &x, &y, &err), CV_STATUS_OK);
    cv_tensor_free(&x);
    cv_tensor_free(&y);
    cv_runtime_destroy(rt);
}

/* ---- the backend's runs of slices -------------------------------------------------- */

/* cv_step_shared_run on a Conv step: slices run as one while they read its
 * weight and bias at one address and their rows follow each other. */
static void test_shared_runs(void **state)
{
    cv_graph_t *g = cv_test_graph_new("runs", 17, true);
    int x = cv_test_graph_input(g, "x", CV_DTYPE_FP32, CV_TEST_SHAPE(1, 2, 4, 4));
    int w = cv_test_graph_weight(g, "w", CV_TEST_SHAPE(2, 2, 1, 1), 1);
    int b = cv_test_graph_weight(g, "b", CV_TEST_SHAPE(2), 2);
    int n = cv_test_graph_node(g, CV_OP_CONV, (int[]){x, w, b}, 3, "conv");
    float wa[4], wb[4], ba[2], bb[2];
    void *ta[8] = {0}, *tb[8] = {0}, *tc[8] = {0}; /* tables: a, b (a's W, own bias), c (a copy of a's) */
    ta[w] = wa, ta[b] = ba;
    tb[w] = wa, tb[b] = bb;
    tc[w] = wa, tc[b] = ba;
    (void)wb;
    cv_tensor_t tx = {CV_DTYPE_FP32, CV_TEST_SHAPE(6, 2, 4, 4), NULL}, tw = {CV_DTYPE_FP32, CV_TEST_SHAPE(2, 2, 1, 1), wa},
                tbias = {CV_DTYPE_FP32, CV_TEST_SHAPE(2), ba};
    const cv_tensor_t *ins[3] = {&tx, &tw, &tbias};
    cv_wave_slice_t slices[5] = {{.row0 = 0, .rows = 1, .constants = ta}, {.row0 = 1, .rows = 2, .constants = tc},
                                 {.row0 = 3, .rows = 1, .constants = tb}, {.row0 = 4, .rows = 1, .constants = ta},
                                 {.row0 = 5, .rows = 1, .constants = tc}};
    cv_step_run_t run = {.graph = g, .node = &g->nodes[n], .inputs = ins, .ninputs = 3, .slices = slices,
                         .nslices = 5};
    assert_true(cv_step_slices_share(&run, 0, 1));
    assert_false(cv_step_slices_share(&run, 0, 2)); /* the bias differs */
    assert_int_equal(cv_step_shared_run(&run, 0), 2);
    assert_int_equal(cv_step_shared_run(&run, 2), 3);
    assert_int_equal(cv_step_shared_run(&run, 3), 5);
    /* Rows that do not follow: no run across them. */
    slices[4].row0 = 7;
    assert_int_equal(cv_step_shared_run(&run, 3), 4);
    cv_graph_destroy(g);
}

#ifdef CV_TEST_SHARED_CUDA
/* ---- CUDA: half precision, and the super-kernel cache --------------------------- */

static void test_waves_equal_alone_fp16(void **state) { run_waves(CV_PRECISION_FP16); }

/* FP16 and BF16 tenants keep the half copy alone of the weights no FP32
 * path reads (the default; CARAVEL_HALF_WEIGHTS=both keeps the FP32 copy
 * too): both Convs of one group, the Gemm; the depthwise Conv keeps both. Each tenant then takes less device
 * memory, and computes exactly what it computes with both copies (any
 * path still reading the FP32 copy would read half bytes as floats); the
 * store still shares such weights, and waves still equal their tenants
 * alone. */
static void test_half_only_weights(void **state)
{
    const cv_precision_t precisions[] = {CV_PRECISION_FP16, CV_PRECISION_BF16};
    for (size_t k = 0; k < sizeof precisions / sizeof precisions[0]; k++) {
        cv_precision_t p = precisions[k];
        setenv("CARAVEL_HALF_WEIGHTS", "both", 1);
        cv_runtime_t *both = make_runtime(true);
        cv_tenant_t *t_both = load(both, BASE, "base", p);
        unsetenv("CARAVEL_HALF_WEIGHTS");
        cv_runtime_t *only = make_runtime(true);
        cv_tenant_t *t[NKINDS];
        for (int i = 0; i < NKINDS; i++) t[i] = load(only, i, kind_names[i], p);
        /* The same tenant alone in a runtime, as in `both`: its whole
         * weights on its account (in `only` the others share them). */
        cv_runtime_t *single = make_runtime(true);
        cv_tenant_t *t_single = load(single, BASE, "base", p);
        size_t bytes_both = cv_tenant_device_bytes(t_both), bytes_only = cv_tenant_device_bytes(t_single);
        printf("  %s: device bytes of a tenant %zu with both copies, %zu with the half copy alone\n",
               p == CV_PRECISION_FP16 ? "fp16" : "bf16", bytes_both, bytes_only);
        assert_true(bytes_only < bytes_both);
        cv_err_t err;
        cv_tensor_t x = input(3, 41), y_both, y_only;
        if (cv_infer(both, t_both, &x, &y_both, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
        if (cv_infer(only, t[BASE], &x, &y_only, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
        cv_test_compare("the half copy alone against both copies", &y_only, &y_both, SAME, SAME);
        check_wave(only, (cv_tenant_t *[]){t[BASE], t[HEAD1], t[HEAD2]}, (int64_t[]){1, 2, 1}, 3, p);
        check_wave(only, (cv_tenant_t *[]){t[HEAD1], t[DISTINCT], t[HEAD2], t[STAGE1], t[COPY], t[BASE]},
                   (int64_t[]){1, 2, 1, 3, 1, 2}, 6, p);
        cv_tensor_free(&x);
        cv_tensor_free(&y_both);
        cv_tensor_free(&y_only);
        cv_runtime_destroy(both);
        cv_runtime_destroy(only);
        cv_runtime_destroy(single);
    }
}

#ifdef CARAVEL_WITH_CUDA
/* A prepared tenant of the family on a backend, through a weight store as
 * the runtime does, and its CPU twin. */
typedef struct exec_tenant {
    cv_graph_t *g, *g_cpu;
    cv_tenant_weights_t tw, tw_cpu;
    void **table, **table_cpu;
} exec_tenant_t;

static void exec_tenant_load(exec_tenant_t *t, int kind, cv_backend_t *gpu, cv_weight_store_t *gs,
                             cv_backend_t *cpu, cv_weight_store_t *cs)
{
    cv_err_t err;
    cv_cpu_ctx_t fold = {.threads = 1};
    const char *path = tenant_file(kind);
    for (int side = 0; side < 2; side++) {
        cv_graph_t **g = side ? &t->g_cpu : &t->g;
        cv_backend_t *be = side ? cpu : gpu;
        if (cv_onnx_load(path, g, &err) != CV_STATUS_OK || cv_ir_prepare(*g, &fold, &err) != CV_STATUS_OK ||
            cv_plan_fuse_residuals(*g, &fold, &err) != CV_STATUS_OK ||
            cv_weights_intern(side ? cs : gs, be, *g, CV_PRECISION_FP32, side ? &t->tw_cpu : &t->tw, &err) !=
                CV_STATUS_OK ||
            be->iface->tenant_upload(be, *g, CV_PRECISION_FP32, (void *const *)(side ? t->tw_cpu.stored : t->tw.stored),
                                     side ? &t->table_cpu : &t->table, &err) != CV_STATUS_OK)
            fail_msg("%s", err.msg);
    }
    cv_cpu_ctx_release(&fold);
}

static void exec_tenant_free(exec_tenant_t *t, cv_backend_t *gpu, cv_weight_store_t *gs, cv_backend_t *cpu,
                             cv_weight_store_t *cs)
{
    gpu->iface->tenant_release(gpu, t->g, t->table);
    cpu->iface->tenant_release(cpu, t->g_cpu, t->table_cpu);
    cv_weights_release(gs, gpu, t->g, &t->tw, false);
    cv_weights_release(cs, cpu, t->g_cpu, &t->tw_cpu, false);
    cv_graph_destroy(t->g);
    cv_graph_destroy(t->g_cpu);
}

/* Waves on the executor directly, in orders the runtime would not form
 * (sharers apart), each on CUDA against the CPU; then the cache: the same
 * slice heights with another grouping of the classifier is another shape
 * (captured anew, never replayed with the wrong problems), the same
 * grouping with other members replays (a rebind), and every replay
 * computes what the CPU does. */
static void test_graph_cache_sharing_patterns(void **state)
{
    cv_backend_t *gpu, *cpu;
    cv_executor_t *gx, *cx;
    cv_err_t err;
    if (cv_backend_cuda_create(0, &gpu, &err) != CV_STATUS_OK) fail_msg("%s", err.msg);
    assert_int_equal(cv_backend_cpu_create(1, &cpu, &err), CV_STATUS_OK);
    assert_int_equal(cv_exec_create(gpu, &gx, &err), CV_STATUS_OK);
    assert_int_equal(cv_exec_create(cpu, &cx, &err), CV_STATUS_OK);
    cv_weight_store_t gs, cs;
    cv_weights_init(&gs, true);
    cv_weights_init(&cs, true);
    exec_tenant_t t[NKINDS];
    for (int k = 0; k < NKINDS; k++) exec_tenant_load(&t[k], k, gpu, &gs, cpu, &cs);
    cv_cpu_ctx_t fold = {.threads = 1};
    /* Four slices of 1, 2, 1, 1 rows; which tenants and so which share the
     * classifier changes from wave to wave. */
    const int64_t rows[4] = {1, 2, 1, 1};
    cv_plan_t *gplan = cv_test_plan_rows(t[BASE].g, 5, &fold), *cplan = cv_test_plan_rows(t[BASE].g_cpu, 5, &fold);
    const int waves[][4] = {
        {BASE, COPY, HEAD1, HEAD2},     /* classifier: slices 0 and 1 one problem */
        {BASE, COPY, HEAD1, HEAD2},     /* the same: replayed */
        {HEAD1, HEAD2, BASE, COPY},     /* the same heights, grouping 2-3: another shape */
        {HEAD1, HEAD2, BASE, COPY},     /* replayed */
        {STAGE1, DISTINCT, COPY, BASE}, /* grouping 2-3, other members: a rebind */
        {STAGE1, DISTINCT, COPY, BASE},
        {HEAD2, BASE, STAGE1, HEAD1},   /* nobody shares the classifier: the first shape's heights, another grouping */
        {HEAD2, BASE, STAGE1, HEAD1},
        {BASE, COPY, HEAD1, HEAD2},     /* back to the first: still cached, replayed */
        {HEAD1, HEAD1, HEAD2, BASE},    /* a tenant twice, nobody else sharing the classifier: the
                                           shape of waves 6-7 (a tenant's requests never group), a rebind */
    };
    cv_tensor_t x = input(5, 21);
    cv_backend_stats_t before, after;
    for (size_t w = 0; w < sizeof waves / sizeof waves[0]; w++) {
        void **gt[4], **ct[4];
        for (int s = 0; s < 4; s++) {
            gt[s] = t[waves[w][s]].table;
            ct[s] = t[waves[w][s]].table_cpu;
        }
        gpu->iface->stats(gpu, &before);
        cv_tensor_t y, ref;
        cv_test_wave_run(gx, gplan, gt, rows, 4, CV_PRECISION_FP32, &x, &y);
        gpu->iface->stats(gpu, &after);
        cv_test_wave_run(cx, cplan, ct, rows, 4, CV_PRECISION_FP32, &x, &ref);
        char what[64];
        snprintf(what, sizeof what, "wave %zu on CUDA against the CPU", w);
        cv_test_compare(what, &y, &ref, 1e-4, 1e-6);
        cv_tensor_free(&y);
        cv_tensor_free(&ref);
        long hits = after.graph_hits - before.graph_hits, misses = after.graph_misses - before.graph_misses;
        /* Waves 0, 2, 6 are new shapes (eager, sizing the capture); 1, 3, 7
         * capture; the rest replay. */
        if (w == 0 || w == 2 || w == 6) assert_int_equal(hits + misses, 0);
        else if (w == 1 || w == 3 || w == 7) assert_int_equal(misses, 1);
        else assert_int_equal(hits, 1);
        if (w == 4 || w == 9) assert_int_equal(after.graph_rebinds - before.graph_rebinds, 1);
    }
    cv_tensor_free(&x);
    cv_plan_destroy(gplan);
    cv_plan_destroy(cplan);
    cv_cpu_ctx_release(&fold);
    cv_exec_destroy(gx);
    cv_exec_destroy(cx);
    for (int k = 0; k < NKINDS; k++) exec_tenant_free(&t[k], gpu, &gs, cpu, &cs);
    cv_weights_destroy(&gs);
    cv_weights_destroy(&cs);
    gpu->iface->destroy(gpu);
    cpu->iface->destroy(cpu);
}
#endif /* CARAVEL_WITH_CUDA */
#endif /* CV_TEST_SHARED_CUDA */

int main(void)
{
#ifdef CV_TEST_SHARED_CUDA
    int skip = cv_test_gpu_skip();
    if (skip) return skip;
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_reads_every_byte),
        cmocka_unit_test(test_half_only_choice),
        cmocka_unit_test(test_half_conversion),
        cmocka_unit_test(test_store_compares_shape_and_bytes),
        cmocka_unit_test(test_shared_runs),
        cmocka_unit_test_teardown(test_collision_is_not_sharing, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_memory_split_among_tenants, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_waves_equal_alone, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_scheduled_waves, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_unload_keeps_shared, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_failed_load_gives_back, cv_test_onnx_teardown),
#ifdef CV_TEST_SHARED_CUDA
        cmocka_unit_test_teardown(test_waves_equal_alone_fp16, cv_test_onnx_teardown),
        cmocka_unit_test_teardown(test_half_only_weights, cv_test_onnx_teardown),
#ifdef CARAVEL_WITH_CUDA
        cmocka_unit_test_teardown(test_graph_cache_sharing_patterns, cv_test_onnx_teardown),
#endif
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
