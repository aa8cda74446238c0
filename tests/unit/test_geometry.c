/*
 * test_geometry.c: the geometry both backends read from a step
 * (src/backend/broadcast.c, layout_geometry.c, nn_geometry.c), checked on
 * its own: ONNX's clamping and defaults, the regions the strided copies
 * walk, and a one-line INVALID_ARGUMENT naming the input or attribute for
 * every bad argument a model file can hold. The kernels built on it are
 * tested through test_cpu_*.c and, on a GPU, test_gpu_kernels.c; the last
 * case here only checks that the CPU kernels pass the errors on.
 */
#include "testutil.h"

#include "backend/broadcast.h"
#include "backend/cpu/cpu.h"
#include "backend/layout_geometry.h"
#include "backend/nn_geometry.h"

#include <math.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

/* A node of `op` at `opset` with up to 4 attributes. */
typedef struct test_node {
    cv_node_t node;
    cv_attr_t attrs[4];
} test_node_t;

static void node_init(test_node_t *t, cv_op_t op, int opset)
{
    memset(t, 0, sizeof *t);
    t->node.op = op;
    t->node.opset = opset;
    t->node.name = (char *)"";
    t->node.attrs = t->attrs;
}

static cv_attr_t *node_attr(test_node_t *t, const char *name, cv_attr_type_t type)
{
    cv_attr_t *a = &t->attrs[t->node.nattrs++];
    a->name = (char *)name;
    a->type = type;
    return a;
}

static void attr_int(test_node_t *t, const char *name, int64_t v)
{
    node_attr(t, name, CV_ATTR_INT)->i = v;
}

static void attr_ints(test_node_t *t, const char *name, const int64_t *v, int n)
{
    cv_attr_t *a = node_attr(t, name, CV_ATTR_INTS);
    a->ints = (int64_t *)v;
    a->n = n;
}

static void attr_string(test_node_t *t, const char *name, const char *s)
{
    node_attr(t, name, CV_ATTR_STRING)->s = (char *)s;
}

/* A 1-D INT64 tensor over v (not copied). */
static cv_tensor_t i64s(const int64_t *v, int n)
{
    cv_tensor_t t = {.dtype = CV_DTYPE_INT64, .shape = {.ndim = 1, .dims = {n}}, .data = (void *)v};
    return t;
}

static cv_shape_t shape(int ndim, const int64_t *dims)
{
    cv_shape_t s = {.ndim = ndim};
    memcpy(s.dims, dims, sizeof(int64_t) * (size_t)ndim);
    return s;
}

#define SHAPE(...)                                                                       \
    shape((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
#define I64S(...)                                                                        \
    i64s((int64_t[]){__VA_ARGS__}, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

/* The status is INVALID_ARGUMENT and the message holds `part`. */
static void expect_invalid(cv_status st, const cv_err_t *err, const char *part)
{
    assert_int_equal(st, CV_STATUS_INVALID_ARGUMENT);
    if (!strstr(err->msg, part)) fail_msg("message '%s' lacks '%s'", err->msg, part);
}

static void expect_dims(const cv_shape_t *s, int ndim, const int64_t *dims)
{
    assert_int_equal(s->ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(s->dims[i], dims[i]);
}

/* ---- broadcast collapse --------------------------------------------------- */

static void test_broadcast_scalars(void **state)
{
    (void)state;
    cv_broadcast_t bc;
    cv_shape_t scalar = {.ndim = 0}, ones = SHAPE(1, 1, 1);
    const cv_shape_t *scalars[2] = {&scalar, &scalar}, *two[2] = {&scalar, &ones};
    /* A scalar output (or one of only 1s) is one dim of 1, stride 0. */
    cv_broadcast_collapse(scalars, 2, &scalar, &bc);
    assert_int_equal(bc.ndim, 1);
    assert_int_equal(bc.dims[0], 1);
    assert_int_equal(bc.strides[0][0], 0);
    cv_broadcast_collapse(two, 2, &ones, &bc);
    assert_int_equal(bc.ndim, 1);
    assert_int_equal(bc.dims[0], 1);
    assert_int_equal(bc.strides[1][0], 0);
    /* A scalar against a tensor: one run, stride 0 for the scalar. */
    cv_shape_t x = SHAPE(2, 3, 4);
    const cv_shape_t *xs[2] = {&x, &scalar};
    cv_broadcast_collapse(xs, 2, &x, &bc);
    assert_int_equal(bc.ndim, 1);
    assert_int_equal(bc.dims[0], 24);
    assert_int_equal(bc.strides[0][0], 1);
    assert_int_equal(bc.strides[1][0], 0);
}

static void test_broadcast_size1_dims(void **state)
{
    (void)state;
    cv_broadcast_t bc;
    /* [N,C,H,W] with [C,1,1]: N runs of C channels of H*W against a scalar. */
    cv_shape_t x = SHAPE(2, 3, 4, 5), c = SHAPE(3, 1, 1);
    const cv_shape_t *xc[2] = {&x, &c};
    cv_broadcast_collapse(xc, 2, &x, &bc);
    assert_int_equal(bc.ndim, 3);
    assert_int_equal(bc.dims[0], 2);
    assert_int_equal(bc.dims[1], 3);
    assert_int_equal(bc.dims[2], 20);
    assert_int_equal(bc.strides[0][0], 60);
    assert_int_equal(bc.strides[0][1], 20);
    assert_int_equal(bc.strides[0][2], 1);
    assert_int_equal(bc.strides[1][0], 0);
    assert_int_equal(bc.strides[1][1], 1);
    assert_int_equal(bc.strides[1][2], 0);
    /* Output dims of 1 vanish; [1,4,1,3] with [3] is [4,3] against a row. */
    cv_shape_t y = SHAPE(1, 4, 1, 3), row = SHAPE(3);
    const cv_shape_t *yr[2] = {&y, &row};
    cv_broadcast_collapse(yr, 2, &y, &bc);
    assert_int_equal(bc.ndim, 2);
    assert_int_equal(bc.dims[0], 4);
    assert_int_equal(bc.dims[1], 3);
    assert_int_equal(bc.strides[0][0], 3);
    assert_int_equal(bc.strides[0][1], 1);
    assert_int_equal(bc.strides[1][0], 0);
    assert_int_equal(bc.strides[1][1], 1);
    /* Where's three operands: [4,1], [1,3] and a scalar into [4,3]. */
    cv_shape_t col = SHAPE(4, 1), line = SHAPE(1, 3), scalar = {.ndim = 0}, out = SHAPE(4, 3);
    const cv_shape_t *three[3] = {&col, &line, &scalar};
    cv_broadcast_collapse(three, 3, &out, &bc);
    assert_int_equal(bc.ndim, 2);
    assert_int_equal(bc.strides[0][0], 1);
    assert_int_equal(bc.strides[0][1], 0);
    assert_int_equal(bc.strides[1][0], 0);
    assert_int_equal(bc.strides[1][1], 1);
    assert_int_equal(bc.strides[2][0], 0);
    assert_int_equal(bc.strides[2][1], 0);
    /* An empty output keeps its zero extent. */
    cv_shape_t empty = SHAPE(0, 3);
    const cv_shape_t *e[1] = {&empty};
    cv_broadcast_collapse(e, 1, &empty, &bc);
    assert_int_equal(bc.ndim, 1);
    assert_int_equal(bc.dims[0], 0);
}

/* ---- Slice --------------------------------------------------------------- */

/* Slices a 1-D X of extent d; returns the status. */
static cv_status slice_1d(int64_t d, int64_t start, int64_t end, int64_t step,
                          cv_slice_geometry_t *g, cv_err_t *err)
{
    cv_shape_t x = SHAPE(d);
    cv_tensor_t s = I64S(start), e = I64S(end), st = I64S(step);
    return cv_slice_geometry(&x, &s, &e, NULL, &st, g, err);
}

static void test_slice_clamping(void **state)
{
    (void)state;
    cv_slice_geometry_t g;
    cv_err_t err = {{0}};
    /* Plain, then negative starts and ends counted from the end. */
    assert_int_equal(slice_1d(10, 2, 7, 1, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 5);
    assert_int_equal(g.copy.src_at, 2);
    assert_int_equal(g.copy.ss[0], 1);
    assert_int_equal(slice_1d(10, -3, -1, 1, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 2);
    assert_int_equal(g.start[0], 7);
    /* Out of range both ways: clamped to the axis. */
    assert_int_equal(slice_1d(10, -100, 100, 1, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 10);
    assert_int_equal(g.copy.src_at, 0);
    assert_int_equal(slice_1d(10, 12, 20, 1, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 0);
    assert_int_equal(g.copy.src_at, 0);
    /* INT64_MAX as "to the end", and a step that leaves a remainder. */
    assert_int_equal(slice_1d(10, 1, INT64_MAX, 3, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 3); /* 1, 4, 7 */
    assert_int_equal(g.copy.ss[0], 3);
    /* A huge step taking one element keeps the plain stride. */
    assert_int_equal(slice_1d(10, 4, 5, INT64_MAX, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 1);
    assert_int_equal(g.copy.src_at, 4);
    assert_int_equal(g.copy.ss[0], 1);
}

static void test_slice_negative_steps(void **state)
{
    (void)state;
    cv_slice_geometry_t g;
    cv_err_t err = {{0}};
    /* The whole axis backwards: start -1, end INT64_MIN. */
    assert_int_equal(slice_1d(10, -1, INT64_MIN, -1, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 10);
    assert_int_equal(g.copy.src_at, 9);
    assert_int_equal(g.copy.ss[0], -1);
    /* INT64_MAX start is clamped to the last element: 9, 7, 5, 3 (the end
     * is excluded), then to the first with INT64_MIN. */
    assert_int_equal(slice_1d(10, INT64_MAX, 1, -2, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 4);
    assert_int_equal(g.start[0], 9);
    assert_int_equal(g.copy.ss[0], -2);
    assert_int_equal(slice_1d(10, INT64_MAX, INT64_MIN, -2, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 5);
    /* A start before the first element takes nothing (numpy, ONNX's
     * reference); so does an end at or after the start. */
    assert_int_equal(slice_1d(10, -20, INT64_MIN, -1, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 0);
    assert_int_equal(g.copy.src_at, 0);
    assert_int_equal(slice_1d(10, 3, 5, -1, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 0);
    /* INT64_MIN as a step: one element, no overflow. */
    assert_int_equal(slice_1d(10, 9, INT64_MIN, INT64_MIN, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 1);
    assert_int_equal(g.copy.src_at, 9);
    /* An empty axis backwards. */
    assert_int_equal(slice_1d(0, -1, INT64_MIN, -1, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 0);
}

static void test_slice_axes(void **state)
{
    (void)state;
    cv_slice_geometry_t g;
    cv_err_t err = {{0}};
    /* Negative axes, in any order; the other axes are whole. */
    cv_shape_t x = SHAPE(2, 3, 4);
    cv_tensor_t s = I64S(1, 1), e = I64S(3, 2), axes = I64S(-1, 0);
    assert_int_equal(cv_slice_geometry(&x, &s, &e, &axes, NULL, &g, &err), CV_STATUS_OK);
    expect_dims(&g.out, 3, (int64_t[]){1, 3, 2});
    assert_int_equal(g.copy.src_at, 1 * 12 + 1);
    assert_int_equal(g.copy.ss[0], 12);
    assert_int_equal(g.copy.ss[1], 4);
    assert_int_equal(g.copy.ss[2], 1);
    assert_int_equal(g.copy.ds[1], 2);
    /* Without axes, starts covers the leading axes; INT32 inputs too. */
    int32_t s32[1] = {1}, e32[1] = {INT32_MAX};
    cv_tensor_t s_i32 = {.dtype = CV_DTYPE_INT32, .shape = {.ndim = 1, .dims = {1}}, .data = s32};
    cv_tensor_t e_i32 = {.dtype = CV_DTYPE_INT32, .shape = {.ndim = 1, .dims = {1}}, .data = e32};
    assert_int_equal(cv_slice_geometry(&x, &s_i32, &e_i32, NULL, NULL, &g, &err), CV_STATUS_OK);
    expect_dims(&g.out, 3, (int64_t[]){1, 3, 4});
    assert_int_equal(g.copy.src_at, 12);
}

static void test_slice_errors(void **state)
{
    (void)state;
    cv_slice_geometry_t g;
    cv_err_t err = {{0}};
    cv_shape_t x = SHAPE(2, 3, 4);
    cv_tensor_t one = I64S(0), two = I64S(0, 1), axes = I64S(0, 1), steps = I64S(1, 1);
    expect_invalid(cv_slice_geometry(&x, &two, &one, NULL, NULL, &g, &err), &err,
                   "Slice's starts has 2 entries but ends has 1");
    expect_invalid(cv_slice_geometry(&x, &one, &one, &axes, NULL, &g, &err), &err,
                   "Slice's axes has 2 entries but starts has 1");
    expect_invalid(cv_slice_geometry(&x, &one, &one, NULL, &steps, &g, &err), &err,
                   "Slice's steps has 2 entries but starts has 1");
    cv_tensor_t zero_step = I64S(0);
    expect_invalid(cv_slice_geometry(&x, &one, &one, NULL, &zero_step, &g, &err), &err,
                   "Slice's step for axis 0 is 0");
    cv_tensor_t far = I64S(3), twice = I64S(1, -2);
    expect_invalid(cv_slice_geometry(&x, &one, &one, &far, NULL, &g, &err), &err,
                   "Slice's axes entry 0 is 3");
    expect_invalid(cv_slice_geometry(&x, &two, &two, &twice, NULL, &g, &err), &err,
                   "Slice's axes names axis 1 twice");
    cv_tensor_t four = I64S(0, 0, 0, 0);
    expect_invalid(cv_slice_geometry(&x, &four, &four, NULL, NULL, &g, &err), &err,
                   "Slice's starts has 4 entries for rank 3");
    float f = 0.0f;
    cv_tensor_t fs = {.dtype = CV_DTYPE_FP32, .shape = {.ndim = 1, .dims = {1}}, .data = &f};
    expect_invalid(cv_slice_geometry(&x, &fs, &one, NULL, NULL, &g, &err), &err,
                   "Slice's starts must be INT64");
    expect_invalid(cv_slice_geometry(&x, NULL, &one, NULL, NULL, &g, &err), &err,
                   "Slice needs the inputs starts and ends");
}

/* ---- Split --------------------------------------------------------------- */

static void test_split_num_outputs(void **state)
{
    (void)state;
    test_node_t t;
    cv_split_geometry_t g;
    cv_err_t err = {{0}};
    cv_shape_t x = SHAPE(2, 7);
    /* Opset 18: chunks of ceil(7 / 3), the last one smaller. */
    node_init(&t, CV_OP_SPLIT, 18);
    attr_int(&t, "axis", -1);
    attr_int(&t, "num_outputs", 3);
    assert_int_equal(cv_split_geometry(&t.node, &x, NULL, 3, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.axis, 1);
    assert_int_equal(cv_split_size(&g, 0), 3);
    assert_int_equal(cv_split_size(&g, 1), 3);
    assert_int_equal(cv_split_size(&g, 2), 1);
    /* Five into four: 2, 2, 1, 0. */
    cv_shape_t five = SHAPE(5);
    node_init(&t, CV_OP_SPLIT, 18);
    attr_int(&t, "num_outputs", 4);
    assert_int_equal(cv_split_geometry(&t.node, &five, NULL, 4, &g, &err), CV_STATUS_OK);
    int64_t want[4] = {2, 2, 1, 0};
    for (int i = 0; i < 4; i++) assert_int_equal(cv_split_size(&g, i), want[i]);
    /* Regions: output i starts where the others end, an omitted output
     * included. */
    cv_copy_region_t r;
    cv_shape_t y0 = SHAPE(2), y2 = SHAPE(1), y3 = SHAPE(0);
    assert_true(cv_split_next(&g, &y0, &r));
    assert_int_equal(r.src_at, 0);
    assert_false(cv_split_next(&g, NULL, &r));
    assert_true(cv_split_next(&g, &y2, &r));
    assert_int_equal(r.src_at, 4);
    assert_true(cv_split_next(&g, &y3, &r));
    assert_int_equal(r.dims[0], 0);
    /* Without split or num_outputs: equal parts, or an error. */
    node_init(&t, CV_OP_SPLIT, 13);
    attr_int(&t, "axis", 1);
    expect_invalid(cv_split_geometry(&t.node, &x, NULL, 2, &g, &err), &err,
                   "Split cannot divide dim 1 of size 7 into 2 equal parts");
    cv_shape_t six = SHAPE(6);
    node_init(&t, CV_OP_SPLIT, 13);
    assert_int_equal(cv_split_geometry(&t.node, &six, NULL, 3, &g, &err), CV_STATUS_OK);
    assert_int_equal(cv_split_size(&g, 2), 2);
}

static void test_split_errors(void **state)
{
    (void)state;
    test_node_t t;
    cv_split_geometry_t g;
    cv_err_t err = {{0}};
    cv_shape_t x = SHAPE(2, 7);
    node_init(&t, CV_OP_SPLIT, 13);
    attr_int(&t, "axis", 1);
    cv_tensor_t split = I64S(2, 5), bad_sum = I64S(2, 4), negative = I64S(-1, 8);
    cv_tensor_t three = I64S(1, 1, 5);
    assert_int_equal(cv_split_geometry(&t.node, &x, &split, 2, &g, &err), CV_STATUS_OK);
    assert_int_equal(cv_split_size(&g, 1), 5);
    cv_copy_region_t r;
    cv_shape_t y0 = SHAPE(2, 2), y1 = SHAPE(2, 5);
    assert_true(cv_split_next(&g, &y0, &r));
    assert_true(cv_split_next(&g, &y1, &r));
    assert_int_equal(r.src_at, 2);
    assert_int_equal(r.ss[0], 7);
    expect_invalid(cv_split_geometry(&t.node, &x, &bad_sum, 2, &g, &err), &err,
                   "Split's split sums to 6, but dim 1 has size 7");
    expect_invalid(cv_split_geometry(&t.node, &x, &negative, 2, &g, &err), &err,
                   "Split's split entry 0 is -1");
    expect_invalid(cv_split_geometry(&t.node, &x, &three, 2, &g, &err), &err,
                   "Split's split input has 3 entries for 2 outputs");
    node_init(&t, CV_OP_SPLIT, 18);
    attr_int(&t, "axis", 2);
    expect_invalid(cv_split_geometry(&t.node, &x, NULL, 2, &g, &err), &err,
                   "Split's axis 2 is out of range");
    node_init(&t, CV_OP_SPLIT, 18);
    attr_int(&t, "num_outputs", 3);
    expect_invalid(cv_split_geometry(&t.node, &x, NULL, 2, &g, &err), &err,
                   "Split's num_outputs 3 differs from its 2 outputs");
    expect_invalid(cv_split_geometry(&t.node, &x, &three, 3, &g, &err), &err,
                   "both the split input and the attribute num_outputs");
}

/* ---- Transpose, Concat, Expand, Tile --------------------------------------- */

static void test_transpose(void **state)
{
    (void)state;
    test_node_t t;
    cv_transpose_geometry_t g;
    cv_err_t err = {{0}};
    cv_shape_t x = SHAPE(2, 3, 4);
    node_init(&t, CV_OP_TRANSPOSE, 13);
    assert_int_equal(cv_transpose_geometry(&t.node, &x, &g, &err), CV_STATUS_OK);
    expect_dims(&g.out, 3, (int64_t[]){4, 3, 2});
    assert_int_equal(g.copy.ss[0], 1);
    assert_int_equal(g.copy.ss[2], 12);
    static const int64_t perm[3] = {0, 2, 1}, short_perm[2] = {1, 0}, twice[3] = {0, 1, 1};
    node_init(&t, CV_OP_TRANSPOSE, 13);
    attr_ints(&t, "perm", perm, 3);
    assert_int_equal(cv_transpose_geometry(&t.node, &x, &g, &err), CV_STATUS_OK);
    expect_dims(&g.out, 3, (int64_t[]){2, 4, 3});
    assert_int_equal(g.copy.ss[1], 1);
    assert_int_equal(g.copy.ss[2], 4);
    node_init(&t, CV_OP_TRANSPOSE, 13);
    attr_ints(&t, "perm", short_perm, 2);
    expect_invalid(cv_transpose_geometry(&t.node, &x, &g, &err), &err,
                   "Transpose's perm has 2 entries for an input of rank 3");
    node_init(&t, CV_OP_TRANSPOSE, 13);
    attr_ints(&t, "perm", twice, 3);
    expect_invalid(cv_transpose_geometry(&t.node, &x, &g, &err), &err,
                   "Transpose's perm entry 2 is 1");
}

static void test_concat_expand(void **state)
{
    (void)state;
    test_node_t t;
    cv_concat_geometry_t g;
    cv_err_t err = {{0}};
    cv_shape_t y = SHAPE(2, 5), a = SHAPE(2, 2), b = SHAPE(2, 3);
    node_init(&t, CV_OP_CONCAT, 13);
    attr_int(&t, "axis", -1);
    assert_int_equal(cv_concat_geometry(&t.node, &y, &g, &err), CV_STATUS_OK);
    cv_copy_region_t r;
    cv_concat_next(&g, &a, &r);
    assert_int_equal(r.dst_at, 0);
    assert_int_equal(r.ds[0], 5);
    assert_int_equal(r.ss[0], 2);
    cv_concat_next(&g, &b, &r);
    assert_int_equal(r.dst_at, 2);
    assert_int_equal(r.ss[0], 3);
    node_init(&t, CV_OP_CONCAT, 13);
    attr_int(&t, "axis", 2);
    expect_invalid(cv_concat_geometry(&t.node, &y, &g, &err), &err,
                   "Concat's axis 2 is out of range for rank 2");
    /* Expand: broadcast dims read with stride 0. */
    cv_shape_t x = SHAPE(3, 1), out = SHAPE(2, 3, 4);
    cv_expand_copy(&x, &out, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.ss[0], 0);
    assert_int_equal(r.ss[1], 1);
    assert_int_equal(r.ss[2], 0);
    assert_int_equal(r.ds[0], 12);
}

static void test_tile(void **state)
{
    (void)state;
    cv_tile_geometry_t g;
    cv_err_t err = {{0}};
    cv_shape_t x = SHAPE(2, 3, 1);
    cv_tensor_t reps = I64S(2, 1, 3);
    assert_int_equal(cv_tile_geometry(&x, &reps, &g, &err), CV_STATUS_OK);
    expect_dims(&g.out, 3, (int64_t[]){4, 3, 3});
    assert_int_equal(g.copy.n, 6);
    assert_int_equal(g.copy.dims[0], 2);  /* repeats of axis 0 */
    assert_int_equal(g.copy.ds[0], 2 * 9); /* each repeat is 2 rows of Y */
    assert_int_equal(g.copy.ss[0], 0);
    assert_int_equal(g.copy.dims[1], 2);
    assert_int_equal(g.copy.ss[1], 3);
    cv_tensor_t zero = I64S(0, 1, 1);
    assert_int_equal(cv_tile_geometry(&x, &zero, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.out.dims[0], 0);
    cv_tensor_t short_reps = I64S(2, 2), negative = I64S(1, -1, 1);
    expect_invalid(cv_tile_geometry(&x, &short_reps, &g, &err), &err,
                   "Tile's repeats has 2 entries for an input of rank 3");
    expect_invalid(cv_tile_geometry(&x, &negative, &g, &err), &err,
                   "Tile's repeats entry 1 is -1");
    cv_tensor_t huge = I64S(INT64_MAX, 1, 1);
    expect_invalid(cv_tile_geometry(&x, &huge, &g, &err), &err, "Tile's output is too large");
}

/* ---- Gather --------------------------------------------------------------- */

static void test_gather(void **state)
{
    (void)state;
    test_node_t t;
    cv_gather_geometry_t g;
    cv_err_t err = {{0}};
    cv_shape_t x = SHAPE(2, 5, 3);
    cv_tensor_t idx = I64S(0, -5, 4), bad = I64S(5);
    node_init(&t, CV_OP_GATHER, 13);
    attr_int(&t, "axis", -2);
    assert_int_equal(cv_gather_geometry(&t.node, &x, &idx, &idx, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.axis, 1);
    assert_int_equal(g.outer, 2);
    assert_int_equal(g.d, 5);
    assert_int_equal(g.inner, 3);
    assert_int_equal(g.nidx, 3);
    expect_invalid(cv_gather_geometry(&t.node, &x, &bad, &bad, &g, &err), &err,
                   "Gather index 5 is out of range for dim 1 of size 5");
    /* Values only on the device: not checked here. */
    assert_int_equal(cv_gather_geometry(&t.node, &x, &bad, NULL, &g, &err), CV_STATUS_OK);
    node_init(&t, CV_OP_GATHER, 13);
    attr_int(&t, "axis", 3);
    expect_invalid(cv_gather_geometry(&t.node, &x, &idx, &idx, &g, &err), &err,
                   "Gather's axis 3 is out of range");
}

/* ---- ReduceMean, ReduceSum --------------------------------------------------- */

static void test_reduce_axes(void **state)
{
    (void)state;
    test_node_t t;
    cv_err_t err = {{0}};
    bool reduced[CV_MAX_DIMS], noop;
    cv_shape_t x = SHAPE(2, 3, 4);
    node_init(&t, CV_OP_REDUCE_SUM, 18);
    int64_t nothing[1] = {0};
    cv_tensor_t axes = I64S(-1, 0), none = i64s(nothing, 0);
    assert_int_equal(cv_reduce_axes(&t.node, &x, &axes, reduced, &noop, &err), CV_STATUS_OK);
    assert_false(noop);
    assert_true(reduced[0] && !reduced[1] && reduced[2]);
    /* No axes: every axis, unless noop_with_empty_axes. */
    assert_int_equal(cv_reduce_axes(&t.node, &x, &none, reduced, &noop, &err), CV_STATUS_OK);
    assert_true(reduced[0] && reduced[1] && reduced[2] && !noop);
    attr_int(&t, "noop_with_empty_axes", 1);
    assert_int_equal(cv_reduce_axes(&t.node, &x, NULL, reduced, &noop, &err), CV_STATUS_OK);
    assert_true(noop && !reduced[0] && !reduced[1] && !reduced[2]);
    cv_tensor_t far = I64S(3), twice = I64S(1, -2);
    expect_invalid(cv_reduce_axes(&t.node, &x, &far, reduced, &noop, &err), &err,
                   "ReduceSum's axes entry 0 is 3, outside -3..2");
    node_init(&t, CV_OP_REDUCE_MEAN, 18);
    expect_invalid(cv_reduce_axes(&t.node, &x, &twice, reduced, &noop, &err), &err,
                   "ReduceMean's axes names axis 1 twice");
}

/* ---- Pad ------------------------------------------------------------------- */

static cv_tensor_t fp32_data(int64_t n)
{
    cv_tensor_t t = {.dtype = CV_DTYPE_FP32, .shape = {.ndim = 1, .dims = {n}}, .data = NULL};
    return t;
}

static void test_pad_negative_and_axes(void **state)
{
    (void)state;
    test_node_t t;
    cv_pad_geometry_t g;
    cv_err_t err = {{0}};
    cv_tensor_t x = {.dtype = CV_DTYPE_FP32, .shape = SHAPE(4, 5)};
    node_init(&t, CV_OP_PAD, 18);
    /* Axes input: only the last axis, 2 before, 1 cropped after. */
    cv_tensor_t pads = I64S(2, -1), axes = I64S(-1);
    assert_int_equal(cv_pad_geometry(&t.node, &x, &pads, NULL, &axes, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.mode, CV_PAD_MODE_CONSTANT);
    assert_false(g.has_value);
    assert_int_equal(g.out[0], 4);
    assert_int_equal(g.out[1], 6);
    assert_int_equal(g.pb[1], 2);
    assert_int_equal(g.lo[1], 0);
    assert_int_equal(g.kept[1], 4);
    assert_int_equal(g.kept[0], 4);
    /* Without axes: begins of every axis, then ends; a negative begin crops. */
    cv_tensor_t all = I64S(-1, 0, 1, 0), value = fp32_data(1);
    assert_int_equal(cv_pad_geometry(&t.node, &x, &all, &value, NULL, &g, &err), CV_STATUS_OK);
    assert_true(g.has_value);
    assert_int_equal(g.out[0], 4);
    assert_int_equal(g.pb[0], 0);
    assert_int_equal(g.lo[0], 1);
    assert_int_equal(g.kept[0], 3);
    assert_int_equal(g.xs[0], 5);
    assert_false(g.empty);
    /* Cropping an axis to nothing: constant mode fills everything. */
    cv_tensor_t crop = I64S(-2, 0, -2, 0), empty_value = fp32_data(0);
    assert_int_equal(cv_pad_geometry(&t.node, &x, &crop, &empty_value, NULL, &g, &err),
                     CV_STATUS_OK);
    assert_false(g.has_value);
    assert_true(g.empty);
    assert_int_equal(g.out[0], 0);
    /* Reflect, edge and wrap read the same pads. */
    node_init(&t, CV_OP_PAD, 18);
    attr_string(&t, "mode", "wrap");
    assert_int_equal(cv_pad_geometry(&t.node, &x, &pads, NULL, &axes, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.mode, CV_PAD_MODE_WRAP);
}

static void test_pad_fold(void **state)
{
    (void)state;
    /* Reflect of [a b c]: ... c b | a b c | b a ... */
    assert_int_equal(cv_pad_fold(CV_PAD_MODE_REFLECT, -1, 3), 1);
    assert_int_equal(cv_pad_fold(CV_PAD_MODE_REFLECT, -2, 3), 2);
    assert_int_equal(cv_pad_fold(CV_PAD_MODE_REFLECT, 3, 3), 1);
    assert_int_equal(cv_pad_fold(CV_PAD_MODE_REFLECT, 4, 3), 0);
    assert_int_equal(cv_pad_fold(CV_PAD_MODE_REFLECT, 7, 1), 0);
    assert_int_equal(cv_pad_fold(CV_PAD_MODE_EDGE, -5, 3), 0);
    assert_int_equal(cv_pad_fold(CV_PAD_MODE_EDGE, 9, 3), 2);
    assert_int_equal(cv_pad_fold(CV_PAD_MODE_WRAP, -1, 3), 2);
    assert_int_equal(cv_pad_fold(CV_PAD_MODE_WRAP, 3, 3), 0);
    assert_int_equal(cv_pad_fold(CV_PAD_MODE_WRAP, -7, 3), 2);
}

static void test_pad_errors(void **state)
{
    (void)state;
    test_node_t t;
    cv_pad_geometry_t g;
    cv_err_t err = {{0}};
    cv_tensor_t x = {.dtype = CV_DTYPE_FP32, .shape = SHAPE(4, 5)};
    node_init(&t, CV_OP_PAD, 18);
    cv_tensor_t two = I64S(1, 1), four = I64S(1, 1, 1, 1), axes = I64S(1), twice = I64S(0, -2);
    expect_invalid(cv_pad_geometry(&t.node, &x, &two, NULL, NULL, &g, &err), &err,
                   "Pad's pads has 2 entries, expected 4");
    expect_invalid(cv_pad_geometry(&t.node, &x, &four, NULL, &axes, &g, &err), &err,
                   "Pad's pads has 4 entries, expected 2");
    expect_invalid(cv_pad_geometry(&t.node, &x, &four, NULL, &twice, &g, &err), &err,
                   "Pad's axes names axis 0 twice");
    cv_tensor_t two_values = fp32_data(2);
    expect_invalid(cv_pad_geometry(&t.node, &x, &four, &two_values, NULL, &g, &err), &err,
                   "Pad's constant_value must be one element");
    cv_tensor_t int_value = I64S(0);
    expect_invalid(cv_pad_geometry(&t.node, &x, &four, &int_value, NULL, &g, &err), &err,
                   "Pad's constant_value is INT64 but the data is FP32");
    cv_tensor_t too_much = I64S(-3, 0, -2, 0);
    expect_invalid(cv_pad_geometry(&t.node, &x, &too_much, NULL, NULL, &g, &err), &err,
                   "Pad's pads -3 and -2 do not fit dim 0 of size 4");
    expect_invalid(cv_pad_geometry(&t.node, &x, NULL, NULL, NULL, &g, &err), &err,
                   "Pad needs the input pads");
    node_init(&t, CV_OP_PAD, 18);
    attr_string(&t, "mode", "mirror");
    expect_invalid(cv_pad_geometry(&t.node, &x, &four, NULL, NULL, &g, &err), &err,
                   "Pad mode 'mirror' is not one of constant, reflect, edge, wrap");
    node_init(&t, CV_OP_PAD, 18);
    attr_string(&t, "mode", "reflect");
    cv_tensor_t crop_pad = I64S(-4, 0, 1, 0);
    expect_invalid(cv_pad_geometry(&t.node, &x, &crop_pad, NULL, NULL, &g, &err), &err,
                   "Pad mode 'reflect' cannot pad dim 0, which has no elements");
}

/* ---- Softmax, the fused activation ------------------------------------------ */

static void softmax_case(int opset, bool with_axis, int64_t axis, int64_t outer, int64_t len,
                         int64_t inner)
{
    test_node_t t;
    cv_softmax_geometry_t g;
    cv_err_t err = {{0}};
    cv_shape_t x = SHAPE(2, 3, 4);
    node_init(&t, CV_OP_SOFTMAX, opset);
    if (with_axis) attr_int(&t, "axis", axis);
    assert_int_equal(cv_softmax_geometry(&t.node, &x, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.outer, outer);
    assert_int_equal(g.len, len);
    assert_int_equal(g.inner, inner);
}

static void test_softmax_axis(void **state)
{
    (void)state;
    /* Opset 13: one axis, default -1. */
    softmax_case(13, false, 0, 6, 4, 1);
    softmax_case(13, true, 1, 2, 3, 4);
    softmax_case(13, true, -3, 1, 2, 12);
    /* Before 13: coerced to 2-D at the axis, default 1. */
    softmax_case(11, false, 0, 2, 12, 1);
    softmax_case(11, true, -1, 6, 4, 1);
    softmax_case(1, true, 0, 1, 24, 1);
    test_node_t t;
    cv_softmax_geometry_t g;
    cv_err_t err = {{0}};
    cv_shape_t x = SHAPE(2, 3, 4), scalar = {.ndim = 0};
    node_init(&t, CV_OP_LOG_SOFTMAX, 13);
    attr_int(&t, "axis", 3);
    expect_invalid(cv_softmax_geometry(&t.node, &x, &g, &err), &err,
                   "LogSoftmax's axis 3 is outside -3..2");
    node_init(&t, CV_OP_SOFTMAX, 11);
    attr_int(&t, "axis", -4);
    expect_invalid(cv_softmax_geometry(&t.node, &x, &g, &err), &err,
                   "Softmax's axis -4 is outside -3..2");
    node_init(&t, CV_OP_SOFTMAX, 13);
    expect_invalid(cv_softmax_geometry(&t.node, &scalar, &g, &err), &err,
                   "Softmax's input is a scalar");
}

static void test_layer_norm_axis(void **state)
{
    (void)state;
    test_node_t t;
    cv_layer_norm_geometry_t g;
    cv_err_t err = {{0}};
    cv_shape_t x = SHAPE(2, 3, 4), scalar = {.ndim = 0};
    node_init(&t, CV_OP_LAYER_NORMALIZATION, 17);
    assert_int_equal(cv_layer_norm_geometry(&t.node, &x, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.outer, 6);
    assert_int_equal(g.inner, 4);
    expect_dims(&g.norm, 1, (int64_t[]){4});
    node_init(&t, CV_OP_LAYER_NORMALIZATION, 17);
    attr_int(&t, "axis", 1);
    assert_int_equal(cv_layer_norm_geometry(&t.node, &x, &g, &err), CV_STATUS_OK);
    assert_int_equal(g.outer, 2);
    assert_int_equal(g.inner, 12);
    expect_dims(&g.norm, 2, (int64_t[]){3, 4});
    node_init(&t, CV_OP_LAYER_NORMALIZATION, 17);
    attr_int(&t, "axis", -4);
    expect_invalid(cv_layer_norm_geometry(&t.node, &x, &g, &err), &err,
                   "LayerNormalization's axis -4 is outside -3..2");
    expect_invalid(cv_layer_norm_geometry(&t.node, &scalar, &g, &err), &err,
                   "LayerNormalization's X is a scalar");
}

static void test_activation_clamp(void **state)
{
    (void)state;
    test_node_t t;
    node_init(&t, CV_OP_CONV, 13);
    cv_clamp_t c = cv_activation_clamp(&t.node);
    assert_false(c.active);
    t.node.activation = CV_ACTIVATION_RELU;
    c = cv_activation_clamp(&t.node);
    assert_true(c.active);
    assert_true(c.lo == 0.0f && isinf(c.hi) && c.hi > 0);
    t.node.activation = CV_ACTIVATION_CLIP;
    t.node.clip_min = -1.0f;
    t.node.clip_max = 6.0f;
    c = cv_activation_clamp(&t.node);
    assert_true(c.active && c.lo == -1.0f && c.hi == 6.0f);
    assert_true(cv_clamp_f32(7.0f, c.lo, c.hi) == 6.0f);
    assert_true(cv_clamp_f32(-3.0f, c.lo, c.hi) == -1.0f);
    assert_true(cv_clamp_f32(2.5f, c.lo, c.hi) == 2.5f);
    assert_true(isnan(cv_clamp_f32(NAN, c.lo, c.hi)));
    /* min > max: Clip's min(max(v, lo), hi) is hi. */
    assert_true(cv_clamp_f32(0.0f, 2.0f, 1.0f) == 1.0f);
}

/* ---- the CPU kernels answer the geometry's errors ---------------------------- */

static void test_cpu_kernels_check(void **state)
{
    (void)state;
    cv_cpu_ctx_t cpu = {.threads = 1};
    cv_err_t err = {{0}};
    float xv[6] = {0}, yv[6] = {0};
    cv_tensor_t x = {.dtype = CV_DTYPE_FP32, .shape = SHAPE(2, 3), .data = xv};
    cv_tensor_t y = {.dtype = CV_DTYPE_FP32, .shape = SHAPE(2, 3), .data = yv};
    /* Slice with steps shorter than starts: once silently defaulted. */
    test_node_t t;
    node_init(&t, CV_OP_SLICE, 13);
    cv_tensor_t starts = I64S(0, 0), ends = I64S(2, 3), steps = I64S(1);
    const cv_tensor_t *ins[5] = {&x, &starts, &ends, NULL, &steps};
    cv_tensor_t *outs[1] = {&y};
    cv_op_args_t args = {&t.node, ins, 5, outs, 1, &cpu};
    expect_invalid(cv_op_def(CV_OP_SLICE)->cpu(&args, &err), &err,
                   "Slice's steps has 1 entries but starts has 2");
    /* Softmax with an axis out of range: once an assert. */
    node_init(&t, CV_OP_SOFTMAX, 13);
    attr_int(&t, "axis", 2);
    cv_op_args_t soft = {&t.node, ins, 1, outs, 1, &cpu};
    expect_invalid(cv_op_def(CV_OP_SOFTMAX)->cpu(&soft, &err), &err,
                   "Softmax's axis 2 is outside -2..1");
    /* Pad without axes whose pads cover one axis of two. */
    node_init(&t, CV_OP_PAD, 18);
    cv_tensor_t pads = I64S(0, 0);
    const cv_tensor_t *pad_ins[2] = {&x, &pads};
    cv_op_args_t pad = {&t.node, pad_ins, 2, outs, 1, &cpu};
    expect_invalid(cv_op_def(CV_OP_PAD)->cpu(&pad, &err), &err,
                   "Pad's pads has 2 entries, expected 4");
    cv_cpu_ctx_release(&cpu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcast_scalars),
        cmocka_unit_test(test_broadcast_size1_dims),
        cmocka_unit_test(test_slice_clamping),
        cmocka_unit_test(test_slice_negative_steps),
        cmocka_unit_test(test_slice_axes),
        cmocka_unit_test(test_slice_errors),
        cmocka_unit_test(test_split_num_outputs),
        cmocka_unit_test(test_split_errors),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_concat_expand),
        cmocka_unit_test(test_tile),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_reduce_axes),
        cmocka_unit_test(test_pad_negative_and_axes),
        cmocka_unit_test(test_pad_fold),
        cmocka_unit_test(test_pad_errors),
        cmocka_unit_test(test_softmax_axis),
        cmocka_unit_test(test_layer_norm_axis),
        cmocka_unit_test(test_activation_clamp),
        cmocka_unit_test(test_cpu_kernels_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
