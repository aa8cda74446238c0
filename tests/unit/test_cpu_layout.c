/*
 * test_cpu_layout.c: shape inference and CPU kernels of the layout, shape
 * and reduction operators (src/ir/infer_layout.c,
 * src/backend/cpu/cpu_layout.c), driven through cv_op_args_t as the
 * executor drives them: inference first, then the kernel on outputs of the
 * inferred shapes. Results are checked against hand-computed values or
 * naive reference loops written here.
 */
#include "opcase.h"

#include "ir/infer.h"

#include <math.h>
#include <string.h>

/* ---- index helpers ------------------------------------------------------ */

static cv_shape_t shape_of(int ndim, const int64_t *dims)
{
    cv_shape_t s = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) s.dims[i] = dims[i];
    return s;
}

/* Row-major offset of multi-index idx in shape s. */
static int64_t offset_of(const cv_shape_t *s, const int64_t *idx)
{
    int64_t off = 0;
    for (int i = 0; i < s->ndim; i++) off = off * s->dims[i] + idx[i];
    return off;
}

static void index_of(const cv_shape_t *s, int64_t off, int64_t *idx)
{
    for (int i = s->ndim - 1; i >= 0; i--) {
        idx[i] = off % s->dims[i];
        off /= s->dims[i];
    }
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze -------------------------------- */

static void test_reshape(void **state)
{
    (void)state;
    cv_test_case_t c;
    const int64_t xd[] = {2, 3, 4};

    cv_test_case_init(&c, CV_OP_RESHAPE, 1);
    cv_test_add_iota(&c, 3, xd);
    cv_test_add_i64(&c, 2, (const int64_t[]){0, -1});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){2, 12});
    for (int i = 0; i < 24; i++) assert_float_equal(((float *)c.out[0].data)[i], i, 0);
    /* the planner may alias a view's output with its input */
    assert_int_equal(cv_cpu_reshape(
                         &(cv_op_args_t){&c.node, (const cv_tensor_t *[]){&c.in[0], &c.in[1]}, 2,
                                         (cv_tensor_t *[]){&c.in[0]}, 1, &c.cpu},
                         &c.err),
                     CV_STATUS_OK);
    assert_float_equal(((float *)c.in[0].data)[23], 23, 0);
    cv_test_case_free(&c);

    /* without allowzero, 0 copies the input dim */
    cv_test_case_init(&c, CV_OP_RESHAPE, 1);
    cv_test_add_iota(&c, 3, xd);
    cv_test_add_i64(&c, 3, (const int64_t[]){4, 0, -1});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 3, (const int64_t[]){4, 3, 2});
    cv_test_case_free(&c);

    /* allowzero: 0 is a real zero */
    cv_test_case_init(&c, CV_OP_RESHAPE, 1);
    cv_test_attr_int(&c, "allowzero", 1);
    cv_test_add_f32(&c, 3, (const int64_t[]){0, 3, 4}, NULL);
    cv_test_add_i64(&c, 3, (const int64_t[]){3, 4, 0});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 3, (const int64_t[]){3, 4, 0});
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_RESHAPE, 1);
    cv_test_add_iota(&c, 3, xd);
    cv_test_add_i64(&c, 2, (const int64_t[]){5, -1});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT,
                 "Reshape cannot turn [2,3,4] (24 elements) into [5,-1]");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_RESHAPE, 1);
    cv_test_add_iota(&c, 3, xd);
    cv_test_add_i64(&c, 2, (const int64_t[]){-1, -1});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "more than one -1");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_RESHAPE, 1);
    cv_test_add_iota(&c, 3, xd);
    cv_test_add_i64(&c, 2, (const int64_t[]){6, 4});
    c.runtime[1] = true;
    cv_test_expect_error(&c, CV_STATUS_UNSUPPORTED, "must be a constant");
    cv_test_case_free(&c);
}

static void test_flatten(void **state)
{
    (void)state;
    const int64_t xd[] = {2, 3, 4, 5};
    const struct {
        int64_t axis;
        int64_t rows, cols;
    } cases[] = {{0, 1, 120}, {1, 2, 60}, {3, 24, 5}, {4, 120, 1}, {-1, 24, 5}, {-4, 1, 120}};
    for (size_t i = 0; i < CV_ARRAY_LEN(cases); i++) {
        cv_test_case_t c;
        cv_test_case_init(&c, CV_OP_FLATTEN, 1);
        cv_test_attr_int(&c, "axis", cases[i].axis);
        cv_test_add_iota(&c, 4, xd);
        assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
        cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){cases[i].rows, cases[i].cols});
        assert_memory_equal(c.out[0].data, c.in[0].data, 120 * sizeof(float));
        cv_test_case_free(&c);
    }
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_FLATTEN, 1);
    cv_test_add_iota(&c, 4, xd);
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){2, 60});
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_FLATTEN, 1);
    cv_test_attr_int(&c, "axis", 5);
    cv_test_add_iota(&c, 4, xd);
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "Flatten axis 5 is out of range for rank 4");
    cv_test_case_free(&c);
}

static void test_squeeze_unsqueeze(void **state)
{
    (void)state;
    cv_test_case_t c;
    const int64_t xd[] = {1, 3, 1, 5};

    cv_test_case_init(&c, CV_OP_SQUEEZE, 1);
    cv_test_add_iota(&c, 4, xd);
    cv_test_add_i64(&c, 2, (const int64_t[]){-2, 0});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){3, 5});
    assert_memory_equal(c.out[0].data, c.in[0].data, 15 * sizeof(float));
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_SQUEEZE, 1); /* no axes: every 1-dim */
    cv_test_add_iota(&c, 4, xd);
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){3, 5});
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_SQUEEZE, 1);
    cv_test_add_iota(&c, 4, xd);
    cv_test_add_i64(&c, 1, (const int64_t[]){1});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "Squeeze axis 1 of [1,3,1,5] has size 3");
    cv_test_case_free(&c);

    /* axes refer to the output rank, in any order, negative allowed */
    cv_test_case_init(&c, CV_OP_UNSQUEEZE, 1);
    cv_test_add_iota(&c, 2, (const int64_t[]){3, 4});
    cv_test_add_i64(&c, 3, (const int64_t[]){-1, 0, 3});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 5, (const int64_t[]){1, 3, 4, 1, 1});
    assert_memory_equal(c.out[0].data, c.in[0].data, 12 * sizeof(float));
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_UNSQUEEZE, 1);
    cv_test_add_iota(&c, 2, (const int64_t[]){3, 4});
    cv_test_add_i64(&c, 2, (const int64_t[]){2, 0});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 4, (const int64_t[]){1, 3, 1, 4});
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_UNSQUEEZE, 1);
    cv_test_add_iota(&c, 2, (const int64_t[]){3, 4});
    cv_test_add_i64(&c, 2, (const int64_t[]){1, -3});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "repeats axis 1");
    cv_test_case_free(&c);
}

/* ---- Transpose ----------------------------------------------------------- */

/* Runs Transpose of `x` with perm and checks against a naive loop. */
static void check_transpose(cv_dtype_t dtype, int ndim, const int64_t *dims, const int64_t *perm)
{
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_TRANSPOSE, 1);
    if (perm) cv_test_attr_ints(&c, "perm", perm, ndim);
    cv_tensor_t *x = cv_test_add_input(&c, dtype, ndim, dims, NULL);
    int64_t n = cv_shape_numel(&x->shape);
    size_t es = cv_dtype_size(dtype);
    for (int64_t i = 0; i < n; i++) /* distinct bytes per element */
        for (size_t b = 0; b < es; b++) ((uint8_t *)x->data)[i * (int64_t)es + (int64_t)b] =
                                            (uint8_t)(i * 7 + (int64_t)b * 131);
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    const cv_tensor_t *y = &c.out[0];
    int64_t p[CV_MAX_DIMS];
    for (int i = 0; i < ndim; i++) p[i] = perm ? perm[i] : ndim - 1 - i;
    for (int i = 0; i < ndim; i++) assert_int_equal(y->shape.dims[i], dims[p[i]]);
    int64_t yi[CV_MAX_DIMS], xi[CV_MAX_DIMS];
    for (int64_t o = 0; o < n; o++) {
        index_of(&y->shape, o, yi);
        for (int i = 0; i < ndim; i++) xi[p[i]] = yi[i];
        int64_t src = offset_of(&x->shape, xi);
        if (memcmp((const uint8_t *)y->data + o * (int64_t)es,
                   (const uint8_t *)x->data + src * (int64_t)es, es) != 0)
            fail_msg("transpose mismatch at output element %lld", (long long)o);
    }
    cv_test_case_free(&c);
}

static void test_transpose(void **state)
{
    (void)state;
    static const int64_t perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                        {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const int64_t d3[] = {2, 3, 4};
    for (int i = 0; i < 6; i++) check_transpose(CV_DTYPE_FP32, 3, d3, perms[i]);
    check_transpose(CV_DTYPE_FP32, 3, d3, NULL);
    /* tiled path, every element size, odd extents */
    const int64_t d2[] = {37, 45};
    const int64_t p2[] = {1, 0};
    check_transpose(CV_DTYPE_INT8, 2, d2, p2);
    check_transpose(CV_DTYPE_FP16, 2, d2, p2);
    check_transpose(CV_DTYPE_FP32, 2, d2, p2);
    check_transpose(CV_DTYPE_INT64, 2, d2, p2);
    const int64_t d4[] = {2, 3, 40, 50};
    const int64_t nchw_nhwc[] = {0, 2, 3, 1}, nhwc_nchw[] = {0, 3, 1, 2};
    check_transpose(CV_DTYPE_FP32, 4, d4, nchw_nhwc);
    check_transpose(CV_DTYPE_FP32, 4, d4, nhwc_nchw);
    /* channel shuffle: inner blocks stay contiguous */
    const int64_t d5[] = {1, 2, 3, 4, 5};
    const int64_t shuffle[] = {0, 2, 1, 3, 4};
    check_transpose(CV_DTYPE_BOOL, 5, d5, shuffle);
    check_transpose(CV_DTYPE_FP32, 5, d5, shuffle);

    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_TRANSPOSE, 1);
    cv_test_attr_ints(&c, "perm", (const int64_t[]){0, 0, 1}, 3);
    cv_test_add_iota(&c, 3, d3);
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "perm [0,0,1] is not a permutation of 3 axes");
    cv_test_case_free(&c);
}

/* ---- Concat, Split -------------------------------------------------------- */

static void test_concat(void **state)
{
    (void)state;
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_CONCAT, 1);
    cv_test_attr_int(&c, "axis", -1);
    cv_test_add_f32(&c, 2, (const int64_t[]){2, 2}, (const float[]){1, 2, 3, 4});
    cv_test_add_f32(&c, 2, (const int64_t[]){2, 0}, NULL);
    cv_test_add_f32(&c, 2, (const int64_t[]){2, 3}, (const float[]){5, 6, 7, 8, 9, 10});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){2, 5});
    cv_test_expect_f32(&c.out[0], (const float[]){1, 2, 5, 6, 7, 3, 4, 8, 9, 10}, 10);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONCAT, 1);
    cv_test_attr_int(&c, "axis", -2);
    cv_test_add_input(&c, CV_DTYPE_INT64, 2, (const int64_t[]){1, 2}, (const int64_t[]){1, 2});
    cv_test_add_input(&c, CV_DTYPE_INT64, 2, (const int64_t[]){2, 2}, (const int64_t[]){3, 4, 5, 6});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){3, 2});
    cv_test_expect_i64(&c.out[0], (const int64_t[]){1, 2, 3, 4, 5, 6}, 6);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONCAT, 1);
    cv_test_attr_int(&c, "axis", 1);
    cv_test_add_f32(&c, 3, (const int64_t[]){2, 3, 4}, NULL);
    cv_test_add_f32(&c, 3, (const int64_t[]){2, 3, 5}, NULL);
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "Concat inputs 0 and 1 differ in dim 2 (4 vs 5)");
    cv_test_case_free(&c);
}

static void test_split(void **state)
{
    (void)state;
    cv_test_case_t c;
    /* opset 18 num_outputs that does not divide: the last chunk is smaller */
    cv_test_case_init(&c, CV_OP_SPLIT, 4);
    cv_test_attr_int(&c, "num_outputs", 4);
    cv_test_add_iota(&c, 1, (const int64_t[]){7});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_f32(&c.out[0], (const float[]){0, 1}, 2);
    cv_test_expect_f32(&c.out[1], (const float[]){2, 3}, 2);
    cv_test_expect_f32(&c.out[2], (const float[]){4, 5}, 2);
    cv_test_expect_f32(&c.out[3], (const float[]){6}, 1);
    cv_test_case_free(&c);

    /* explicit split with a zero-size part, negative axis */
    cv_test_case_init(&c, CV_OP_SPLIT, 3);
    cv_test_attr_int(&c, "axis", -1);
    cv_test_add_iota(&c, 2, (const int64_t[]){2, 5});
    cv_test_add_i64(&c, 3, (const int64_t[]){2, 0, 3});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[1], 2, (const int64_t[]){2, 0});
    cv_test_expect_f32(&c.out[0], (const float[]){0, 1, 5, 6}, 4);
    cv_test_expect_f32(&c.out[2], (const float[]){2, 3, 4, 7, 8, 9}, 6);
    cv_test_case_free(&c);

    /* equal split, an omitted middle output still takes its part */
    cv_test_case_init(&c, CV_OP_SPLIT, 3);
    cv_test_add_iota(&c, 2, (const int64_t[]){6, 1});
    c.out_present[1] = false;
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_f32(&c.out[0], (const float[]){0, 1}, 2);
    cv_test_expect_f32(&c.out[2], (const float[]){4, 5}, 2);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_SPLIT, 4);
    cv_test_add_iota(&c, 1, (const int64_t[]){6});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "cannot divide dim 0 of size 6 into 4");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_SPLIT, 2);
    cv_test_add_iota(&c, 1, (const int64_t[]){6});
    cv_test_add_i64(&c, 2, (const int64_t[]){2, 3});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "sums to 5");
    cv_test_case_free(&c);
}

/* ---- Slice ---------------------------------------------------------------- */

/* Naive slice of one axis: the source index of output position o. */
static int64_t slice_src(int64_t d, int64_t start, int64_t step, int64_t o)
{
    if (start < 0) start += d;
    start = step > 0 ? CV_MAX(0, CV_MIN(start, d)) : CV_MAX(-1, CV_MIN(start, d - 1));
    return start + o * step;
}

static void check_slice(cv_dtype_t index_dtype, const int64_t *starts, const int64_t *ends,
                        const int64_t *axes, const int64_t *steps, int n,
                        const int64_t *want_dims)
{
    const int64_t xd[] = {6, 5, 4};
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_SLICE, 1);
    cv_test_add_iota(&c, 3, xd);
    const int64_t *lists[] = {starts, ends, axes, steps};
    for (int k = 0; k < 4; k++) {
        if (!lists[k]) {
            if (k == 2 && steps) cv_test_add_absent(&c);
            continue;
        }
        int64_t nn = n;
        cv_tensor_t *t = cv_test_add_input(&c, index_dtype, 1, &nn, NULL);
        for (int i = 0; i < n; i++) cv_tensor_set_i64(t, i, lists[k][i]);
    }
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    const cv_tensor_t *y = &c.out[0];
    cv_test_expect_shape(y, 3, want_dims);
    int64_t start[3] = {0, 0, 0}, step[3] = {1, 1, 1};
    for (int i = 0; i < n; i++) {
        int64_t a = axes ? (axes[i] < 0 ? axes[i] + 3 : axes[i]) : i;
        start[a] = starts[i];
        step[a] = steps ? steps[i] : 1;
    }
    int64_t yi[3], xi[3];
    for (int64_t o = 0; o < cv_shape_numel(&y->shape); o++) {
        index_of(&y->shape, o, yi);
        for (int a = 0; a < 3; a++) xi[a] = slice_src(xd[a], start[a], step[a], yi[a]);
        assert_float_equal(((float *)y->data)[o], (float)offset_of(&c.in[0].shape, xi), 0);
    }
    cv_test_case_free(&c);
}

static void test_slice(void **state)
{
    (void)state;
    /* plain, default axes and steps */
    check_slice(CV_DTYPE_INT64, (const int64_t[]){1, 0}, (const int64_t[]){3, 5}, NULL, NULL, 2,
                (const int64_t[]){2, 5, 4});
    /* negative steps over every axis, ends clamped */
    check_slice(CV_DTYPE_INT64, (const int64_t[]){20, 10, 4}, (const int64_t[]){0, 0, 1},
                (const int64_t[]){0, 1, 2}, (const int64_t[]){-1, -3, -2}, 3,
                (const int64_t[]){5, 2, 1});
    /* reverse the whole axis */
    check_slice(CV_DTYPE_INT64, (const int64_t[]){-1}, (const int64_t[]){INT64_MIN},
                (const int64_t[]){-1}, (const int64_t[]){-1}, 1, (const int64_t[]){6, 5, 4});
    /* INT32 indices, negative axes, out-of-range start and end */
    check_slice(CV_DTYPE_INT32, (const int64_t[]){-100, 1}, (const int64_t[]){1000, -1},
                (const int64_t[]){-2, -3}, (const int64_t[]){2, 1}, 2,
                (const int64_t[]){4, 3, 4});
    /* start beyond the end: empty */
    check_slice(CV_DTYPE_INT64, (const int64_t[]){10}, (const int64_t[]){1000},
                (const int64_t[]){1}, NULL, 1, (const int64_t[]){6, 0, 4});

    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_SLICE, 1);
    cv_test_add_iota(&c, 1, (const int64_t[]){4});
    cv_test_add_i64(&c, 1, (const int64_t[]){0});
    cv_test_add_i64(&c, 1, (const int64_t[]){4});
    cv_test_add_absent(&c);
    cv_test_add_i64(&c, 1, (const int64_t[]){0});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "step for axis 0 is 0");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_SLICE, 1);
    cv_test_add_iota(&c, 1, (const int64_t[]){4});
    cv_test_add_i64(&c, 1, (const int64_t[]){0});
    cv_test_add_i64(&c, 1, (const int64_t[]){4});
    c.runtime[1] = true;
    cv_test_expect_error(&c, CV_STATUS_UNSUPPORTED, "Slice's starts must be a constant");
    cv_test_case_free(&c);
}

/* ---- Gather, Shape -------------------------------------------------------- */

static void test_gather(void **state)
{
    (void)state;
    cv_test_case_t c;
    /* axis 1 with 2-D, negative indices */
    cv_test_case_init(&c, CV_OP_GATHER, 1);
    cv_test_attr_int(&c, "axis", 1);
    cv_test_add_iota(&c, 2, (const int64_t[]){3, 4});
    cv_test_add_input(&c, CV_DTYPE_INT32, 2, (const int64_t[]){2, 2}, (const int32_t[]){0, -1, 2, -4});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 3, (const int64_t[]){3, 2, 2});
    cv_test_expect_f32(&c.out[0], (const float[]){0, 3, 2, 0, 4, 7, 6, 4, 8, 11, 10, 8}, 12);
    cv_test_case_free(&c);

    /* axis 0, INT64 data, scalar index */
    cv_test_case_init(&c, CV_OP_GATHER, 1);
    cv_test_add_input(&c, CV_DTYPE_INT64, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 2, 3, 4, 5, 6});
    cv_test_add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){-2});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 1, (const int64_t[]){2});
    cv_test_expect_i64(&c.out[0], (const int64_t[]){3, 4}, 2);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_GATHER, 1);
    cv_test_add_iota(&c, 1, (const int64_t[]){5});
    cv_test_add_i64(&c, 2, (const int64_t[]){1, 7});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT,
                 "Gather index 7 is out of range for dim 0 of size 5");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_GATHER, 1);
    cv_test_add_iota(&c, 1, (const int64_t[]){5});
    cv_test_add_f32(&c, 1, (const int64_t[]){1}, (const float[]){1});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "indices must be INT64 or INT32");
    cv_test_case_free(&c);
}

static void test_shape(void **state)
{
    (void)state;
    const int64_t xd[] = {3, 4, 5};
    const struct {
        bool has_start, has_end;
        int64_t start, end;
        int n;
        int64_t want[3];
    } cases[] = {
        {false, false, 0, 0, 3, {3, 4, 5}}, {true, false, 1, 0, 2, {4, 5}},
        {false, true, 0, -1, 2, {3, 4}},    {true, true, -2, -1, 1, {4}},
        {true, true, 2, 1, 0, {0}},         {true, true, -10, 10, 3, {3, 4, 5}},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(cases); i++) {
        cv_test_case_t c;
        cv_test_case_init(&c, CV_OP_SHAPE, 1);
        if (cases[i].has_start) cv_test_attr_int(&c, "start", cases[i].start);
        if (cases[i].has_end) cv_test_attr_int(&c, "end", cases[i].end);
        cv_test_add_iota(&c, 3, xd);
        assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
        assert_int_equal(c.out[0].dtype, CV_DTYPE_INT64);
        cv_test_expect_shape(&c.out[0], 1, (const int64_t[]){cases[i].n});
        cv_test_expect_i64(&c.out[0], cases[i].want, cases[i].n);
        cv_test_case_free(&c);
    }
}

/* ---- Constant, ConstantOfShape, Identity, Dropout, Range ----------------- */

static void test_constant(void **state)
{
    (void)state;
    cv_test_case_t c;
    const float fv[] = {1.5f, -2.0f};
    cv_test_case_init(&c, CV_OP_CONSTANT, 1);
    cv_test_attr_floats(&c, "value_floats", fv, 2);
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 1, (const int64_t[]){2});
    cv_test_expect_f32(&c.out[0], fv, 2);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONSTANT, 1);
    cv_test_attr_int(&c, "value_int", -7);
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    assert_int_equal(c.out[0].dtype, CV_DTYPE_INT64);
    assert_int_equal(c.out[0].shape.ndim, 0);
    cv_test_expect_i64(&c.out[0], (const int64_t[]){-7}, 1);
    cv_test_case_free(&c);

    cv_tensor_t value;
    cv_shape_t vs = {.ndim = 2, .dims = {2, 2}};
    assert_int_equal(cv_tensor_alloc(&value, CV_DTYPE_INT32, &vs), CV_STATUS_OK);
    memcpy(value.data, (const int32_t[]){1, 2, 3, 4}, 16);
    cv_test_case_init(&c, CV_OP_CONSTANT, 1);
    cv_test_attr_tensor(&c, "value", &value);
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    assert_int_equal(c.out[0].dtype, CV_DTYPE_INT32);
    cv_test_expect_shape(&c.out[0], 2, vs.dims);
    cv_test_expect_i64(&c.out[0], (const int64_t[]){1, 2, 3, 4}, 4);
    cv_test_case_free(&c);
    cv_tensor_free(&value);

    cv_test_case_init(&c, CV_OP_CONSTANT, 1);
    cv_test_attr_string(&c, "value_string", "hello");
    cv_test_expect_error(&c, CV_STATUS_UNSUPPORTED, "value_string is not supported");
    cv_test_case_free(&c);
}

static void test_constant_of_shape(void **state)
{
    (void)state;
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_CONSTANT_OF_SHAPE, 1); /* default: FP32 zeros */
    cv_test_add_i64(&c, 2, (const int64_t[]){2, 3});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){2, 3});
    cv_test_expect_f32(&c.out[0], (const float[]){0, 0, 0, 0, 0, 0}, 6);
    cv_test_case_free(&c);

    cv_tensor_t value;
    cv_shape_t one = {.ndim = 1, .dims = {1}};
    assert_int_equal(cv_tensor_alloc(&value, CV_DTYPE_INT32, &one), CV_STATUS_OK);
    *(int32_t *)value.data = -5;
    cv_test_case_init(&c, CV_OP_CONSTANT_OF_SHAPE, 1);
    cv_test_attr_tensor(&c, "value", &value);
    cv_test_add_i64(&c, 3, (const int64_t[]){2, 1, 2});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    assert_int_equal(c.out[0].dtype, CV_DTYPE_INT32);
    cv_test_expect_i64(&c.out[0], (const int64_t[]){-5, -5, -5, -5}, 4);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_CONSTANT_OF_SHAPE, 1); /* zero-size dim */
    cv_test_attr_tensor(&c, "value", &value);
    cv_test_add_i64(&c, 1, (const int64_t[]){0});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 1, (const int64_t[]){0});
    cv_test_case_free(&c);
    cv_tensor_free(&value);

    cv_tensor_t fvalue;
    assert_int_equal(cv_tensor_alloc(&fvalue, CV_DTYPE_FP32, &one), CV_STATUS_OK);
    *(float *)fvalue.data = 1.25f;
    cv_test_case_init(&c, CV_OP_CONSTANT_OF_SHAPE, 1);
    cv_test_attr_tensor(&c, "value", &fvalue);
    cv_test_add_i64(&c, 1, (const int64_t[]){3});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_f32(&c.out[0], (const float[]){1.25f, 1.25f, 1.25f}, 3);
    cv_test_case_free(&c);
    cv_tensor_free(&fvalue);

    cv_test_case_init(&c, CV_OP_CONSTANT_OF_SHAPE, 1);
    cv_test_add_i64(&c, 2, (const int64_t[]){2, -1});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "has a negative dim");
    cv_test_case_free(&c);
}

static void test_identity_dropout(void **state)
{
    (void)state;
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_IDENTITY, 1);
    cv_test_add_input(&c, CV_DTYPE_INT64, 1, (const int64_t[]){3}, (const int64_t[]){7, 8, 9});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_i64(&c.out[0], (const int64_t[]){7, 8, 9}, 3);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_DROPOUT, 2);
    cv_test_add_f32(&c, 1, (const int64_t[]){3}, (const float[]){1, -2, 3});
    cv_test_add_f32(&c, 0, NULL, (const float[]){0.5f});
    c.runtime[1] = true; /* the ratio need not be a constant */
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_f32(&c.out[0], (const float[]){1, -2, 3}, 3);
    assert_int_equal(c.out[1].dtype, CV_DTYPE_BOOL);
    assert_memory_equal(c.out[1].data, ((const uint8_t[]){1, 1, 1}), 3);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_DROPOUT, 1);
    cv_test_add_f32(&c, 1, (const int64_t[]){3}, (const float[]){1, -2, 3});
    cv_test_add_absent(&c);
    cv_test_add_input(&c, CV_DTYPE_BOOL, 0, NULL, (const uint8_t[]){1});
    cv_test_expect_error(&c, CV_STATUS_UNSUPPORTED, "training mode is not supported");
    cv_test_case_free(&c);
}

static void test_range(void **state)
{
    (void)state;
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_RANGE, 1);
    cv_test_add_f32(&c, 0, NULL, (const float[]){1});
    cv_test_add_f32(&c, 0, NULL, (const float[]){5.5f});
    cv_test_add_f32(&c, 0, NULL, (const float[]){1.5f});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 1, (const int64_t[]){3});
    cv_test_expect_f32(&c.out[0], (const float[]){1, 2.5f, 4}, 3);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_RANGE, 1);
    cv_test_add_input(&c, CV_DTYPE_INT32, 0, NULL, (const int32_t[]){10});
    cv_test_add_input(&c, CV_DTYPE_INT32, 0, NULL, (const int32_t[]){4});
    cv_test_add_input(&c, CV_DTYPE_INT32, 0, NULL, (const int32_t[]){-3});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    assert_int_equal(c.out[0].dtype, CV_DTYPE_INT32);
    cv_test_expect_i64(&c.out[0], (const int64_t[]){10, 7}, 2);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_RANGE, 1); /* empty when the delta points away */
    cv_test_add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){0});
    cv_test_add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){5});
    cv_test_add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){-1});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 1, (const int64_t[]){0});
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_RANGE, 1);
    cv_test_add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){0});
    cv_test_add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){5});
    cv_test_add_input(&c, CV_DTYPE_INT64, 0, NULL, (const int64_t[]){0});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "delta is 0");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_RANGE, 1);
    cv_test_add_f32(&c, 0, NULL, (const float[]){1});
    cv_test_add_f32(&c, 0, NULL, (const float[]){5});
    cv_test_add_f32(&c, 0, NULL, (const float[]){1});
    c.runtime[1] = true;
    cv_test_expect_error(&c, CV_STATUS_UNSUPPORTED, "limit must be a constant");
    cv_test_case_free(&c);
}

/* ---- Expand, Tile --------------------------------------------------------- */

static void test_expand(void **state)
{
    (void)state;
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_EXPAND, 1);
    cv_test_add_f32(&c, 2, (const int64_t[]){3, 1}, (const float[]){1, 2, 3});
    cv_test_add_i64(&c, 3, (const int64_t[]){2, 1, 2});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 3, (const int64_t[]){2, 3, 2});
    cv_test_expect_f32(&c.out[0], (const float[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, 12);
    cv_test_case_free(&c);

    /* the shape may be smaller than the input: bidirectional */
    cv_test_case_init(&c, CV_OP_EXPAND, 1);
    cv_test_add_input(&c, CV_DTYPE_INT16, 2, (const int64_t[]){1, 3}, (const int16_t[]){4, 5, 6});
    cv_test_add_i64(&c, 1, (const int64_t[]){1});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){1, 3});
    cv_test_expect_i64(&c.out[0], (const int64_t[]){4, 5, 6}, 3);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_EXPAND, 1);
    cv_test_add_f32(&c, 1, (const int64_t[]){3}, (const float[]){1, 2, 3});
    cv_test_add_i64(&c, 1, (const int64_t[]){4});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "do not broadcast");
    cv_test_case_free(&c);
}

static void test_tile(void **state)
{
    (void)state;
    cv_test_case_t c;
    const int64_t xd[] = {2, 3, 2};
    const int64_t reps[] = {2, 1, 3};
    cv_test_case_init(&c, CV_OP_TILE, 1);
    cv_test_add_iota(&c, 3, xd);
    cv_test_add_i64(&c, 3, reps);
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    const cv_tensor_t *y = &c.out[0];
    cv_test_expect_shape(y, 3, (const int64_t[]){4, 3, 6});
    int64_t yi[3], xi[3];
    for (int64_t o = 0; o < 72; o++) {
        index_of(&y->shape, o, yi);
        for (int a = 0; a < 3; a++) xi[a] = yi[a] % xd[a];
        assert_float_equal(((float *)y->data)[o], (float)offset_of(&c.in[0].shape, xi), 0);
    }
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_TILE, 1);
    cv_test_add_iota(&c, 3, xd);
    cv_test_add_i64(&c, 2, reps);
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "repeats has 2 entries for an input of rank 3");
    cv_test_case_free(&c);
}

/* ---- Pad ------------------------------------------------------------------ */

static void run_pad(const char *mode, const int64_t *pads, int npads, const float *value,
                    const int64_t *axes, int naxes, int ndim, const int64_t *dims,
                    const int64_t *want_dims, const float *want)
{
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_PAD, 1);
    if (mode) cv_test_attr_string(&c, "mode", mode);
    cv_tensor_t *x = cv_test_add_iota(&c, ndim, dims);
    for (int64_t i = 0; i < cv_shape_numel(&x->shape); i++) ((float *)x->data)[i] += 1;
    cv_test_add_i64(&c, npads, pads);
    if (value)
        cv_test_add_f32(&c, 0, NULL, value);
    else if (axes)
        cv_test_add_absent(&c);
    if (axes) cv_test_add_i64(&c, naxes, axes);
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], ndim, want_dims);
    cv_test_expect_f32(&c.out[0], want, cv_shape_numel(&c.out[0].shape));
    cv_test_case_free(&c);
}

static void test_pad(void **state)
{
    (void)state;
    /* x = [[1,2,3],[4,5,6]] */
    const int64_t d2[] = {2, 3};
    run_pad(NULL, (const int64_t[]){0, 1, 1, 0}, 4, (const float[]){9}, NULL, 0, 2, d2,
            (const int64_t[]){3, 4},
            (const float[]){9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9});
    /* negative pads crop */
    run_pad("constant", (const int64_t[]){-1, 1, 0, -1}, 4, NULL, NULL, 0, 2, d2,
            (const int64_t[]){1, 3}, (const float[]){0, 4, 5});
    /* axes input, negative axis */
    run_pad("constant", (const int64_t[]){2, 1}, 2, (const float[]){-1}, (const int64_t[]){-1},
            1, 2, d2, (const int64_t[]){2, 6},
            (const float[]){-1, -1, 1, 2, 3, -1, -1, -1, 4, 5, 6, -1});
    /* x = [1,2,3,4] */
    const int64_t d1[] = {4};
    run_pad("reflect", (const int64_t[]){2, 3}, 2, NULL, NULL, 0, 1, d1, (const int64_t[]){9},
            (const float[]){3, 2, 1, 2, 3, 4, 3, 2, 1});
    run_pad("edge", (const int64_t[]){2, 1}, 2, NULL, NULL, 0, 1, d1, (const int64_t[]){7},
            (const float[]){1, 1, 1, 2, 3, 4, 4});
    run_pad("wrap", (const int64_t[]){2, 1}, 2, NULL, NULL, 0, 1, d1, (const int64_t[]){7},
            (const float[]){3, 4, 1, 2, 3, 4, 1});
    /* crop one end, pad the other: the kept part is padded */
    run_pad("edge", (const int64_t[]){-1, 2}, 2, NULL, NULL, 0, 1, d1, (const int64_t[]){5},
            (const float[]){2, 3, 4, 4, 4});
    run_pad("reflect", (const int64_t[]){1, 1, 1, 1}, 4, NULL, NULL, 0, 2, d2,
            (const int64_t[]){4, 5},
            (const float[]){5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2});

    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_PAD, 1);
    cv_test_add_iota(&c, 2, d2);
    cv_test_add_i64(&c, 3, (const int64_t[]){1, 1, 1});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "pads has 3 entries, expected 4");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_PAD, 1);
    cv_test_add_iota(&c, 2, d2);
    cv_test_add_i64(&c, 4, (const int64_t[]){0, -4, 0, 0});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "do not fit dim 1 of size 3");
    cv_test_case_free(&c);
}

/* ---- ReduceMean, ReduceSum ------------------------------------------------ */

/* Naive reduction of x (dims xd, rank 3) over the axes flagged in `red`. */
static void naive_reduce(const float *x, const int64_t *xd, const bool *red, bool mean,
                         double *out, int64_t *nout)
{
    cv_shape_t xs = shape_of(3, xd), os = {.ndim = 3};
    for (int a = 0; a < 3; a++) os.dims[a] = red[a] ? 1 : xd[a];
    *nout = cv_shape_numel(&os);
    int64_t count = cv_shape_numel(&xs) / *nout;
    for (int64_t i = 0; i < *nout; i++) out[i] = 0;
    int64_t xi[3];
    for (int64_t i = 0; i < cv_shape_numel(&xs); i++) {
        index_of(&xs, i, xi);
        for (int a = 0; a < 3; a++)
            if (red[a]) xi[a] = 0;
        out[offset_of(&os, xi)] += x[i];
    }
    if (mean)
        for (int64_t i = 0; i < *nout; i++) out[i] /= (double)count;
}

static void test_reduce(void **state)
{
    (void)state;
    const int64_t xd[] = {3, 4, 5};
    /* every subset of axes, both ops, both keepdims, FP32 and FP64 */
    for (int mask = 0; mask < 8; mask++) {
        for (int op = 0; op < 2; op++) {
            for (int keep = 0; keep < 2; keep++) {
                for (int dt = 0; dt < 2; dt++) {
                    bool red[3];
                    int64_t axes[3];
                    int n = 0;
                    for (int a = 0; a < 3; a++) {
                        red[a] = mask == 0 || (mask >> a & 1);
                        if (mask >> a & 1) axes[n++] = a - (a == 2 ? 3 : 0);
                    }
                    cv_test_case_t c;
                    cv_test_case_init(&c, op ? CV_OP_REDUCE_MEAN : CV_OP_REDUCE_SUM, 1);
                    cv_test_attr_int(&c, "keepdims", keep);
                    cv_tensor_t *x = cv_test_add_f32(&c, 3, xd, NULL);
                    cv_test_fill_random(x, (uint64_t)(mask * 4 + op));
                    float xf[60];
                    memcpy(xf, x->data, sizeof xf);
                    if (dt == 1) { /* the same values as FP64 */
                        cv_tensor_t d;
                        assert_int_equal(cv_tensor_alloc(&d, CV_DTYPE_FP64, &x->shape),
                                         CV_STATUS_OK);
                        for (int i = 0; i < 60; i++) ((double *)d.data)[i] = xf[i];
                        cv_tensor_free(x);
                        *x = d;
                    }
                    if (n) cv_test_add_i64(&c, n, axes);
                    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
                    double want[60];
                    int64_t nout;
                    naive_reduce(xf, xd, red, op == 1, want, &nout);
                    const cv_tensor_t *y = &c.out[0];
                    int rank = 0;
                    for (int a = 0; a < 3; a++) rank += keep || !red[a];
                    assert_int_equal(y->shape.ndim, rank);
                    assert_int_equal(cv_shape_numel(&y->shape), nout);
                    for (int64_t i = 0; i < nout; i++)
                        assert_float_equal(cv_tensor_get_f64(y, i), want[i], 1e-4);
                    cv_test_case_free(&c);
                }
            }
        }
    }

    cv_test_case_t c;
    /* integer mean truncates */
    cv_test_case_init(&c, CV_OP_REDUCE_MEAN, 1);
    cv_test_attr_int(&c, "keepdims", 0);
    cv_test_add_input(&c, CV_DTYPE_INT32, 2, (const int64_t[]){2, 3}, (const int32_t[]){1, 2, 4, 5, 7, 9});
    cv_test_add_i64(&c, 1, (const int64_t[]){1});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 1, (const int64_t[]){2});
    cv_test_expect_i64(&c.out[0], (const int64_t[]){2, 7}, 2);
    cv_test_case_free(&c);

    /* empty axes with noop_with_empty_axes: identity */
    cv_test_case_init(&c, CV_OP_REDUCE_SUM, 1);
    cv_test_attr_int(&c, "noop_with_empty_axes", 1);
    cv_test_add_f32(&c, 2, (const int64_t[]){2, 2}, (const float[]){1, 2, 3, 4});
    cv_test_add_i64(&c, 0, NULL);
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){2, 2});
    cv_test_expect_f32(&c.out[0], (const float[]){1, 2, 3, 4}, 4);
    cv_test_case_free(&c);

    /* empty axes without it: everything, keepdims */
    cv_test_case_init(&c, CV_OP_REDUCE_SUM, 1);
    cv_test_add_f32(&c, 2, (const int64_t[]){2, 2}, (const float[]){1, 2, 3, 4});
    cv_test_add_i64(&c, 0, NULL);
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_shape(&c.out[0], 2, (const int64_t[]){1, 1});
    cv_test_expect_f32(&c.out[0], (const float[]){10}, 1);
    cv_test_case_free(&c);

    /* a reduced axis of size 0: sum 0, mean NaN */
    cv_test_case_init(&c, CV_OP_REDUCE_MEAN, 1);
    cv_test_add_f32(&c, 2, (const int64_t[]){2, 0}, NULL);
    cv_test_add_i64(&c, 1, (const int64_t[]){1});
    assert_int_equal(cv_test_run(&c), CV_STATUS_OK);
    cv_test_expect_f32(&c.out[0], (const float[]){NAN, NAN}, 2);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_REDUCE_SUM, 1);
    cv_test_add_input(&c, CV_DTYPE_BOOL, 1, (const int64_t[]){2}, (const uint8_t[]){1, 0});
    cv_test_expect_error(&c, CV_STATUS_UNSUPPORTED, "ReduceSum on BOOL is not supported");
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_REDUCE_SUM, 1);
    cv_test_add_f32(&c, 2, (const int64_t[]){2, 2}, NULL);
    cv_test_add_i64(&c, 1, (const int64_t[]){2});
    cv_test_expect_error(&c, CV_STATUS_INVALID_ARGUMENT, "out of range for rank 2");
    cv_test_case_free(&c);
}

/* ---- allocation failures ---------------------------------------------------- */

static void test_out_of_memory(void **state)
{
    (void)state;
    /* Split's inference and reflect Pad's kernel allocate: failing it must
     * report OUT_OF_MEMORY and leak nothing. */
    size_t before = cv_alloc_live_bytes();
    cv_test_case_t c;
    cv_test_case_init(&c, CV_OP_SPLIT, 2);
    cv_test_add_iota(&c, 1, (const int64_t[]){4});
    cv_alloc_fail_after(1);
    assert_int_equal(cv_test_run_infer(&c), CV_STATUS_OUT_OF_MEMORY);
    cv_alloc_fail_after(0);
    cv_test_case_free(&c);

    cv_test_case_init(&c, CV_OP_PAD, 1);
    cv_test_attr_string(&c, "mode", "reflect");
    cv_test_add_iota(&c, 1, (const int64_t[]){4});
    cv_test_add_i64(&c, 2, (const int64_t[]){1, 1});
    assert_int_equal(cv_test_run_infer(&c), CV_STATUS_OK);
    cv_shape_t s = c.out[0].shape;
    assert_int_equal(cv_tensor_alloc(&c.out[0], CV_DTYPE_FP32, &s), CV_STATUS_OK);
    cv_alloc_fail_after(1);
    assert_int_equal(cv_test_run_kernel(&c), CV_STATUS_OUT_OF_MEMORY);
    cv_alloc_fail_after(0);
    cv_test_case_free(&c);
    assert_int_equal(cv_alloc_live_bytes(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_squeeze_unsqueeze),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_constant_of_shape),
        cmocka_unit_test(test_identity_dropout),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_tile),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
